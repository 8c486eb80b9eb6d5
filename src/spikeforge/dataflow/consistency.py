"""Consistency and deadlock-freedom of synchronous dataflow graphs.

Both are untimed properties: the repetition vector solves the balance equations, and a graph
is deadlock-free when one full iteration can fire by the token-counting rule (after which the
token distribution, and so the whole execution, repeats).

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

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from spikeforge.api import public
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import DataflowGraph

__all__ = ["repetition_vector", "check_deadlock", "blocked_cycle", "order_passes", "firing_sequence"]


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
        conflict with the ratio fixed by the other channels.

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
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for k in range(len(graph.channels)):
        adjacent[int(arr.src[k])].append(k)
        adjacent[int(arr.dst[k])].append(k)
    ratio: list[Fraction | None] = [None] * n
    q = [0] * n
    for start in range(n):
        if ratio[start] is not None:
            continue
        ratio[start] = Fraction(1)
        component = [start]
        todo = deque([start])
        while todo:
            a = todo.popleft()
            for k in adjacent[a]:
                c = graph.channels[k]
                s, d = int(arr.src[k]), int(arr.dst[k])
                if ratio[s] is None:
                    ratio[s] = ratio[d] * c.consumption / c.production
                    component.append(s)
                    todo.append(s)
                elif ratio[d] is None:
                    ratio[d] = ratio[s] * c.production / c.consumption
                    component.append(d)
                    todo.append(d)
                elif ratio[s] * c.production != ratio[d] * c.consumption:
                    want = ratio[d] / ratio[s]
                    raise InvalidGraphError(
                        f"channel {c.name} ({c.src} -> {c.dst}): rates {c.production}:{c.consumption} "
                        f"conflict with the other channels, which fix q[{c.dst}]/q[{c.src}] = {want} "
                        f"(graph is inconsistent, no repetition vector exists)")
        scale = math.lcm(*(ratio[a].denominator for a in component))
        ints = [int(ratio[a] * scale) for a in component]
        g = math.gcd(*ints)
        for a, v in zip(component, ints):
            q[a] = v // g
    return {a.name: q[i] for i, a in enumerate(graph.actors)}


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
        order as the other actors of that processor.
    """
    passes: dict[str, int] = {}
    for proc, order in graph.static_orders.items():
        counts: dict[str, int] = {}
        for name in order:
            counts[name] = counts.get(name, 0) + 1
        ratios = {name: Fraction(q[name], m) for name, m in counts.items()}
        first = order[0]
        for name, r in ratios.items():
            if r != ratios[first] or r.denominator != 1:
                raise InvalidGraphError(
                    f"static order of processor {proc}: actor {name} fires {q[name]} times per "
                    f"iteration but occurs {counts[name]} times in the order, actor {first} fires "
                    f"{q[first]} times and occurs {counts[first]} times; the order cannot repeat a "
                    "whole number of times per iteration")
        passes[proc] = int(ratios[first])
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
        A static order does not fit the repetition vector.
    """
    sequence, blocked = _run_iteration(graph, q)
    if blocked is not None:
        raise DeadlockError(_deadlock_message(graph, *blocked))
    return sequence


def _run_iteration(graph: DataflowGraph, q: dict[str, int]):
    """Fire one iteration by counting tokens; return the sequence and a blocked cycle or None."""
    passes = order_passes(graph, q)
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


def _hsdf_blocked(graph: DataflowGraph):
    """Blocked cycle of a homogeneous graph: a cycle of zero-token edges, or None."""
    arr = graph.arrays
    n = len(graph.actors)
    idx = graph.actor_index
    src = [arr.src[arr.tokens == 0]]
    dst = [arr.dst[arr.tokens == 0]]
    for order in graph.static_orders.values():
        ids = np.array([idx[a] for a in order], dtype=np.int64)
        src.append(ids[:-1])
        dst.append(ids[1:])
    s, d = np.concatenate(src), np.concatenate(dst)
    if not len(s):
        return None
    m = csr_matrix((np.ones(len(s)), (s, d)), shape=(n, n))
    ncomp, label = connected_components(m, directed=True, connection="strong")
    sizes = np.bincount(label, minlength=ncomp)
    bad = np.flatnonzero(((sizes[label[s]] > 1) & (label[s] == label[d])) | (s == d))
    if not len(bad):
        return None
    comp = label[s[bad[0]]]
    zero = nx.MultiDiGraph()
    for c in graph.channels:
        if c.initial_tokens == 0 and label[idx[c.src]] == comp and label[idx[c.dst]] == comp:
            zero.add_edge(c.src, c.dst, key=c.name)
    for proc, order in graph.static_orders.items():
        for a, b in zip(order[:-1], order[1:]):
            if label[idx[a]] == comp and label[idx[b]] == comp:
                zero.add_edge(a, b, key=f"<order {proc}>")
    cycle = nx.find_cycle(zero)
    return tuple(u for u, _, _ in cycle), tuple(k for _, _, k in cycle)


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
        order_passes(graph, q)
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
