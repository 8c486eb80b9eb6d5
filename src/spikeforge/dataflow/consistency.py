"""Consistency and deadlock-freedom of synchronous dataflow graphs.

Both are untimed properties: the repetition vector solves the balance equations, and a graph
is deadlock-free when one full iteration can fire by the token-counting rule (after which the
token distribution, and so the whole execution, repeats).

Sizes: a repetition count above :data:`MAX_REPETITION` is refused while the balance equations
are solved (so the fractions stay small, whatever the rates), and an analysis that fires one
iteration firing by firing refuses more than :data:`MAX_ITERATION_FIRINGS` firings, or more
memory than the machine has, before it starts (:func:`check_iteration`).

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
...                   (Channel("ab", "A", "B", 2, 3), Channel("ba", "B", "A", 3, 2, 6)))
>>> repetition_vector(g)
{'A': 3, 'B': 2}
>>> check_deadlock(g)
"""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction

import numpy as np

from spikeforge.api import public
from spikeforge.dataflow.graphs import strong_components
from spikeforge.errors import DeadlockError, InvalidGraphError, ResourceError
from spikeforge.ir.dataflow import DataflowGraph

__all__ = ["repetition_vector", "check_deadlock", "blocked_cycle", "order_passes", "firing_sequence",
           "check_iteration", "MAX_REPETITION", "MAX_ITERATION_FIRINGS"]

#: Largest firing count of one actor in one iteration. The balance equations are solved with
#: fractions whose numerators and denominators never exceed it (a chain of many multi-rate
#: channels would otherwise grow them without bound).
MAX_REPETITION = 2**31 - 1
#: Largest number of firings of one iteration that an analysis replays one by one (deadlock
#: check and symbolic execution of multi-rate graphs, self-timed simulation): about 1.5 µs each
#: to sequence, 6 µs to execute symbolically and 5-15 µs to simulate (measured, the latter on a
#: loaded machine), so at most about 15 s.
MAX_ITERATION_FIRINGS = 1_000_000


@public
def check_iteration(graph: DataflowGraph, q: dict[str, int], what: str, *,
                    bytes_per_firing: float = 8, iterations: int = 1, extra_bytes: float = 0,
                    limit: int = MAX_ITERATION_FIRINGS, why: str = "spikeforge replays one by one") -> int:
    """Refuse before it starts an analysis that fires ``iterations`` iterations one by one.

    Parameters
    ----------
    graph : DataflowGraph
    q : dict[str, int]
        Its repetition vector.
    what : str
        The analysis, for the message (e.g. ``"symbolic execution"``).
    bytes_per_firing, extra_bytes : float
        Memory the analysis keeps per firing, and besides.
    limit, why : int, str
        The most firings the analysis takes on, and what it does with them (for the message).

    Returns
    -------
    int
        The number of firings, :math:`K \\sum_a q_a`.

    Raises
    ------
    ResourceError
        More than ``limit`` firings (default :data:`MAX_ITERATION_FIRINGS`), or more memory than is
        available; the message names the graph, the actor firing most and the numbers.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("c", "A", "B", 10**8, 1),))
    >>> check_iteration(g, repetition_vector(g), "deadlock check")
    Traceback (most recent call last):
    ...
    spikeforge.errors.ResourceError: graph '': deadlock check: one iteration fires 100,000,001 actors (q[B] = 100,000,000), more than the 1,000,000 firings spikeforge replays one by one
    """
    from spikeforge.resources import check_memory

    firings = sum(q.values()) * iterations
    if firings > limit:
        top = max(q, key=q.get)
        runs = "one iteration fires" if iterations == 1 else f"{iterations:,} iterations fire"
        raise ResourceError(
            f"graph {graph.name!r}: {what}: {runs} {firings:,} actors (q[{top}] = {q[top]:,}), "
            f"more than the {limit:,} firings {why}")
    check_memory(firings * bytes_per_firing + extra_bytes,
                 f"graph {graph.name!r}: {what} of {firings:,} firings")
    return firings


def _check_vector(graph: DataflowGraph, q) -> None:
    """A repetition vector given by the caller: one positive integer per actor of ``graph``."""
    if not isinstance(q, dict):
        raise InvalidGraphError(f"graph {graph.name!r}: repetition vector must be a dict, got "
                                f"{type(q).__name__}")
    for a in graph.actors:
        v = q.get(a.name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidGraphError(f"graph {graph.name!r}: repetition vector entry q[{a.name}] = "
                                    f"{v!r}: must be an integer ≥ 1")


def _too_many(graph: DataflowGraph, actor: int, ratio: Fraction, start: int, channel) -> InvalidGraphError:
    a, s = graph.actors[actor].name, graph.actors[start].name
    return InvalidGraphError(
        f"channel {channel.name} ({channel.src} -> {channel.dst}): rates "
        f"{channel.production}:{channel.consumption} give q[{a}]/q[{s}] = {ratio}, so one "
        f"iteration fires an actor more than {MAX_REPETITION:,} times (too large to analyse)")


@public
def repetition_vector(graph: DataflowGraph) -> dict[str, int]:
    """Smallest positive integer solution :math:`q` of :math:`q_{src}\\,p_c = q_{dst}\\,c_c`.

    Each weakly connected component is normalised on its own (its entries are coprime).
    Homogeneous graphs (all rates 1) return all ones without solving.

    Parameters
    ----------
    graph : DataflowGraph

    Returns
    -------
    dict[str, int]
        Actor name -> firings per graph iteration.

    Raises
    ------
    InvalidGraphError
        The rates are inconsistent; the message names a channel closing a cycle whose rates
        conflict with the ratio fixed by the other channels. Or an entry would exceed
        :data:`MAX_REPETITION`; the message names the channel that drives it there.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("c", "A", "B", 4, 10),))
    >>> repetition_vector(g)
    {'A': 5, 'B': 2}
    """
    if graph.is_homogeneous:
        return dict.fromkeys(graph.actor_index, 1)
    n = len(graph.actors)
    arr = graph.arrays
    src, dst = arr.src.tolist(), arr.dst.tolist()
    prod, cons = arr.production.tolist(), arr.consumption.tolist()
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for k in range(len(src)):
        adjacent[src[k]].append(k)
        adjacent[dst[k]].append(k)
    # q[x]/q[start] as a reduced (numerator, denominator) over a spanning forest; the other
    # channels are checked against it at the end, all at once
    num: list[int] = [0] * n
    den: list[int] = [0] * n
    q = np.zeros(n, dtype=np.int64)
    for start in range(n):
        if den[start]:
            continue
        num[start] = den[start] = 1
        component = [start]
        todo = deque([start])
        while todo:
            a = todo.popleft()
            for k in adjacent[a]:
                s, d = src[k], dst[k]
                if not den[s]:
                    x, y = num[d] * cons[k], den[d] * prod[k]
                elif not den[d]:
                    x, y = num[s] * prod[k], den[s] * cons[k]
                else:
                    continue
                b = s if not den[s] else d
                g = math.gcd(x, y)
                num[b], den[b] = x // g, y // g
                # q[b]/q[start] in lowest terms has numerator ≤ q[b] and denominator ≤ q[start]:
                # either above MAX_REPETITION means an entry is, so stop before they grow further
                if max(num[b], den[b]) > MAX_REPETITION:
                    raise _too_many(graph, b, Fraction(num[b], den[b]), start, graph.channels[k])
                component.append(b)
                todo.append(b)
        scale = 1  # divides q[start], so it stays ≤ MAX_REPETITION on a graph that fits
        for a in component:
            scale = math.lcm(scale, den[a])
            if scale > MAX_REPETITION:
                raise InvalidGraphError(
                    f"graph {graph.name!r}: the rates make one iteration fire actor "
                    f"{graph.actors[start].name} at least {scale:,} times, more than "
                    f"{MAX_REPETITION:,} (too large to analyse)")
        ints = [num[a] * (scale // den[a]) for a in component]
        g = math.gcd(*ints)
        if max(ints) // g > MAX_REPETITION:
            top = component[ints.index(max(ints))]
            raise InvalidGraphError(
                f"graph {graph.name!r}: the rates make one iteration fire actor "
                f"{graph.actors[top].name} {max(ints) // g:,} times, more than "
                f"{MAX_REPETITION:,} (too large to analyse)")
        q[component] = [v // g for v in ints]
    # every channel balanced: q ≤ 2^31 and rates ≤ 2^31, so the products fit in int64
    bad = np.flatnonzero(q[arr.src] * arr.production != q[arr.dst] * arr.consumption)
    if len(bad):
        c = graph.channels[int(bad[0])]
        want = Fraction(int(q[arr.dst[bad[0]]]), int(q[arr.src[bad[0]]]))
        raise InvalidGraphError(
            f"channel {c.name} ({c.src} -> {c.dst}): rates {c.production}:{c.consumption} "
            f"conflict with the other channels, which fix q[{c.dst}]/q[{c.src}] = {want} "
            f"(graph is inconsistent, no repetition vector exists)")
    return {a.name: int(q[i]) for i, a in enumerate(graph.actors)}


@public
def order_passes(graph: DataflowGraph, q: dict[str, int]) -> dict[str, int]:
    """Passes over each static order per graph iteration.

    Parameters
    ----------
    graph : DataflowGraph
    q : dict[str, int]
        Repetition vector of ``graph``.

    Returns
    -------
    dict[str, int]
        Processor -> number of times its static order runs in one iteration.

    Raises
    ------
    InvalidGraphError
        An actor's repetition count is not the same whole multiple of its occurrences in the
        order as the other actors of that processor, or ``q`` lacks an actor or has an entry
        that is not an integer ≥ 1.
    """
    _check_vector(graph, q)
    return _passes(graph, q)


def _passes(graph: DataflowGraph, q: dict[str, int]) -> dict[str, int]:
    """:func:`order_passes` for a ``q`` computed here (already checked: a check per actor costs
    more than the rest of a homogeneous graph's deadlock test)."""
    passes: dict[str, int] = {}
    for proc, order in graph.static_orders.items():
        if len(order) == 1:  # most orders of a mapped graph: one link or crossbar, one actor
            passes[proc] = q[order[0]]
            continue
        counts: dict[str, int] = {}
        for name in order:
            counts[name] = counts.get(name, 0) + 1
        first = order[0]
        runs = q[first] // counts[first]
        for name, m in counts.items():
            if q[name] % m or q[name] // m != runs:
                raise InvalidGraphError(
                    f"static order of processor {proc}: actor {name} fires {q[name]} times per "
                    f"iteration but occurs {counts[name]} times in the order, actor {first} fires "
                    f"{q[first]} times and occurs {counts[first]} times; the order cannot repeat a "
                    "whole number of times per iteration")
        passes[proc] = runs
    return passes


@public
def firing_sequence(graph: DataflowGraph, q: dict[str, int]) -> list[int]:
    """An admissible firing sequence (actor indices) of one iteration.

    Actors fire by the token-counting rule, respecting static orders; the timed analyses
    replay this sequence, as any admissible sequence yields the same token dependencies.

    Raises
    ------
    DeadlockError
        The iteration cannot complete; the message names the blocked cycle.
    InvalidGraphError
        A static order does not fit the repetition vector, or ``q`` is not one.
    ResourceError
        The iteration has more than :data:`MAX_ITERATION_FIRINGS` firings.
    """
    sequence, blocked = _run_iteration(graph, q)
    if blocked is not None:
        raise DeadlockError(_deadlock_message(graph, *blocked))
    return sequence


def _run_iteration(graph: DataflowGraph, q: dict[str, int]):
    """Fire one iteration by counting tokens; return the sequence and a blocked cycle or None."""
    passes = order_passes(graph, q)
    check_iteration(graph, q, "deadlock check", bytes_per_firing=9)
    n = len(graph.actors)
    arr = graph.arrays
    tokens = arr.tokens.tolist()
    inputs: list[list[int]] = [[] for _ in range(n)]
    outputs: list[list[int]] = [[] for _ in range(n)]
    for k in range(len(graph.channels)):
        inputs[int(arr.dst[k])].append(k)
        outputs[int(arr.src[k])].append(k)
    cons = arr.consumption.tolist()
    prod = arr.production.tolist()
    dst = arr.dst.tolist()
    idx = graph.actor_index
    orders = {p: [idx[a] for a in o] for p, o in graph.static_orders.items()}
    proc_of = {idx[a]: p for p, o in graph.static_orders.items() for a in o}
    position = {p: 0 for p in orders}
    remaining = [q[a.name] for a in graph.actors]
    sequence: list[int] = []
    todo = deque(range(n))
    queued = [True] * n
    while todo:
        a = todo.popleft()
        queued[a] = False
        proc = proc_of.get(a)
        while remaining[a] and all(tokens[k] >= cons[k] for k in inputs[a]) and (
                proc is None or orders[proc][position[proc] % len(orders[proc])] == a):
            for k in inputs[a]:
                tokens[k] -= cons[k]
            for k in outputs[a]:
                tokens[k] += prod[k]
            remaining[a] -= 1
            sequence.append(a)
            wake = [dst[k] for k in outputs[a]]
            if proc is not None:
                position[proc] += 1
                if position[proc] < passes[proc] * len(orders[proc]):
                    wake.append(orders[proc][position[proc] % len(orders[proc])])
            for b in wake:
                if not queued[b]:
                    queued[b] = True
                    todo.append(b)
    if not any(remaining):
        return sequence, None
    # Follow waits-for edges (consumer -> producer, or actor -> the processor's next actor)
    # from a blocked actor until they close a cycle; every target is itself blocked.
    waits: dict[int, tuple[int, str]] = {}
    for a, left in enumerate(remaining):
        if not left:
            continue
        proc = proc_of.get(a)
        if proc is not None and orders[proc][position[proc] % len(orders[proc])] != a:
            waits[a] = (orders[proc][position[proc] % len(orders[proc])], f"<order {proc}>")
            continue
        k = next(k for k in inputs[a] if tokens[k] < cons[k])
        waits[a] = (int(arr.src[k]), graph.channels[k].name)
    a = next(iter(waits))
    path: list[int] = []
    seen: dict[int, int] = {}
    while a not in seen:
        seen[a] = len(path)
        path.append(a)
        a = waits[a][0]
    loop = path[seen[a]:]
    loop = loop[::-1]
    actors = tuple(graph.actors[b].name for b in loop)
    channels = tuple(waits[b][1] for b in loop[1:] + loop[:1])
    return sequence, (actors, channels)


def _deadlock_message(graph: DataflowGraph, actors, channels) -> str:
    return (f"graph {graph.name!r} deadlocks: cycle {' -> '.join(actors + actors[:1])} is blocked "
            f"(channels {', '.join(channels)} lack tokens)")


def order_edges(graph: DataflowGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every static order as one array (a loop per order costs seconds at 10^6 orders).

    Returns ``(actor, following, last, offsets)``: the actor index at each position of the
    concatenated orders, the position that follows each one (the last of an order is followed by
    its first, one iteration later), the last positions, and where each order starts.

    >>> from spikeforge.ir.dataflow import Actor, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1, "p"), Actor("B", 1, "p"), Actor("C", 1, "q")), (),
    ...                   static_orders={"p": ("A", "B"), "q": ("C",)})
    >>> [x.tolist() for x in order_edges(g)]
    [[0, 1, 2], [1, 0, 2], [1, 2], [0, 2]]
    """
    orders = graph.static_orders
    idx = graph.actor_index
    lengths = np.fromiter((len(o) for o in orders.values()), dtype=np.int64, count=len(orders))
    actor = np.fromiter((idx[a] for o in orders.values() for a in o), dtype=np.int64,
                        count=int(lengths.sum()))
    offsets = np.cumsum(lengths) - lengths
    following = np.arange(1, len(actor) + 1, dtype=np.int64)
    last = offsets + lengths - 1
    following[last] = offsets
    return actor, following, last, offsets


def _hsdf_blocked(graph: DataflowGraph):
    """Blocked cycle of a homogeneous graph: a cycle of zero-token edges, or None."""
    arr = graph.arrays
    n = len(graph.actors)
    idx = graph.actor_index
    actor, following, last, _ = order_edges(graph)
    within = np.ones(len(actor), dtype=bool)
    within[last] = False  # an order's last-to-first edge carries a token
    s = np.concatenate([arr.src[arr.tokens == 0], actor[within]])
    d = np.concatenate([arr.dst[arr.tokens == 0], actor[following][within]])
    if not len(s):
        return None
    label = strong_components(n, s, d)
    sizes = np.bincount(label)
    bad = np.flatnonzero(((sizes[label[s]] > 1) & (label[s] == label[d])) | (s == d))
    if not len(bad):
        return None
    comp = label[s[bad[0]]]
    # Every actor of a blocked component has a token-free edge to another of it (or to itself):
    # walking such edges from any of them must come back to an actor already walked.
    step: dict[str, tuple[str, str]] = {}
    for c in graph.channels:
        if c.initial_tokens == 0 and label[idx[c.src]] == comp and label[idx[c.dst]] == comp:
            step.setdefault(c.src, (c.dst, c.name))
    for proc, order in graph.static_orders.items():
        for a, b in zip(order[:-1], order[1:]):
            if label[idx[a]] == comp and label[idx[b]] == comp:
                step.setdefault(a, (b, f"<order {proc}>"))
    walked: dict[str, int] = {}
    actor = next(iter(step))
    while actor not in walked:
        walked[actor] = len(walked)
        actor = step[actor][0]
    cycle = list(walked)[walked[actor]:]
    return tuple(cycle), tuple(step[a][1] for a in cycle)


@public
def blocked_cycle(graph: DataflowGraph) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A blocked cycle of ``graph`` as (actors, channels), or None when it is deadlock-free.

    ``channels[i]`` is the channel from ``actors[i]`` to ``actors[i+1]`` (cyclically) that
    lacks tokens; static-order constraints appear as ``"<order p>"``.

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent or a static order does not fit its repetition vector.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
    ...                   (Channel("ab", "A", "B", 2, 1), Channel("ba", "B", "A", 1, 2, 1)))
    >>> blocked_cycle(g)
    (('B', 'A'), ('ba', 'ab'))
    """
    q = repetition_vector(graph)
    if graph.is_homogeneous:
        _passes(graph, q)
        return _hsdf_blocked(graph)
    return _run_iteration(graph, q)[1]


@public
def check_deadlock(graph: DataflowGraph) -> None:
    """Raise if ``graph`` cannot complete an iteration.

    Homogeneous graphs are checked structurally (a cycle of zero-token edges, static-order
    edges included, is exactly a deadlock); other graphs by firing one iteration.

    Raises
    ------
    DeadlockError
        The graph deadlocks; the message names the actors and channels of a blocked cycle.
    InvalidGraphError
        The graph is inconsistent or a static order does not fit its repetition vector.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
    ...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1)))
    >>> check_deadlock(g)
    Traceback (most recent call last):
    ...
    spikeforge.errors.DeadlockError: graph '' deadlocks: cycle A -> B -> A is blocked (channels ab, ba lack tokens)
    """
    blocked = blocked_cycle(graph)
    if blocked is not None:
        raise DeadlockError(_deadlock_message(graph, *blocked))
