"""Throughput, critical cycle and latency of synchronous dataflow graphs.

Throughput is computed the max-plus way (Geilen; Ghamarian et al., ACSD 2006): the start
times of one graph iteration depend on the availability times of the initial tokens through
a max-plus matrix :math:`M`,

.. math:: \\gamma(k+1) = M \\otimes \\gamma(k),

where :math:`\\gamma(k)_j` is the time token :math:`j` becomes available before iteration
:math:`k`. Self-timed execution settles into a periodic regime whose period (time per
iteration) is the max-plus eigenvalue :math:`\\lambda` of :math:`M`, its maximum cycle
mean; the throughput is :math:`1/\\lambda` iterations per time unit and actor ``a`` fires
:math:`q_a/\\lambda` times per time unit.

Concurrency semantics (SDF3's): by default (``auto_concurrency=True``) an actor may fire
concurrently with itself unless the graph gives it a self-edge; graphs that spikeforge builds
from a mapped SNN give every crossbar a static order (see
:func:`spikeforge.dataflow.binding.apply_binding`), which serialises its actors, and every
communication actor an explicit one-token self-loop. ``auto_concurrency=False`` adds an
implicit one-token self-loop to every actor (non-reentrant actors).

State (the "tokens" of :math:`M`) comprises the initial tokens of every channel, one token
per actor for its implicit self-loop when ``auto_concurrency=False``, and one token per
processor with a static order.

Either way :math:`\\lambda` is a maximum cycle ratio
:math:`\\max_C \\sum e / \\sum d` found by Howard's algorithm on edge lists
(:func:`~spikeforge.dataflow.maxplus.max_cycle_ratio`), in memory linear in the graph:

* homogeneous graphs (all rates 1, what mapped SNN graphs mostly are): the cycle ratio of the
  graph itself (execution times over initial tokens, static-order edges and implicit
  self-loops included);
* multi-rate graphs: the cycle ratio of the expansion of one iteration into its firings, edges
  from each token's producing firing to its consuming firing
  (:mod:`~spikeforge.dataflow.expansion`): :math:`\\sum_a q_a` nodes and about one edge per
  token consumed, where the matrix :math:`M` is dense over every initial token (for layered
  SNN graphs every buffer token reaches most later layers). :func:`maxplus_matrix` still
  builds :math:`M` by symbolic execution, for small graphs and as the reference the tests
  compare with.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 2)))
>>> r = throughput(g, exact=True)
>>> r.throughput, r.period, r.critical_cycle.actors
(Fraction(2, 5), Fraction(5, 2), ('A', 'B'))
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np

from spikeforge.api import public
from spikeforge.dataflow.consistency import (
    check_deadlock,
    check_iteration,
    firing_sequence,
    order_edges,
    repetition_vector,
)
from spikeforge.dataflow.expansion import expand
from spikeforge.dataflow.maxplus import NEG_INF, max_cycle_ratio
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import DataflowGraph

__all__ = [
    "CriticalCycle",
    "MaxPlusMatrix",
    "ThroughputResult",
    "critical_cycle",
    "first_iteration_end",
    "latency",
    "maxplus_matrix",
    "throughput",
]


@dataclass(frozen=True)
class CriticalCycle:
    """The cycle that limits throughput.

    Attributes
    ----------
    actors : tuple of str
        Homogeneous graphs: the actors of the cycle, in order. Other graphs: the actors that
        consume the state tokens on the critical cycle of the iteration matrix.
    channels : tuple of str
        Channels of the cycle (homogeneous graphs), or the channels whose initial tokens lie on
        the critical matrix cycle. Implicit edges are named ``"<self A>"`` (non-reentrancy of
        actor ``A``) and ``"<order p>"`` (static order of processor ``p``).
    """

    actors: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class ThroughputResult:
    """Outcome of :func:`throughput`.

    Attributes
    ----------
    throughput : float or Fraction
        Graph iterations per time unit, :math:`1/\\lambda`; ``math.inf`` when unbounded
        (no cycle, or only zero-time cycles).
    period : float or Fraction
        :math:`\\lambda`, the maximum cycle mean: time per iteration (0 when unbounded).
    repetition_vector : Mapping[str, int]
    critical_cycle : CriticalCycle
    actor_throughput : Mapping[str, float or Fraction]
        Firings per time unit of each actor, :math:`q_a/\\lambda`.
    """

    throughput: float | Fraction
    period: float | Fraction
    repetition_vector: Mapping[str, int]
    critical_cycle: CriticalCycle
    actor_throughput: Mapping[str, float | Fraction]


@dataclass(frozen=True)
class MaxPlusMatrix:
    """The max-plus matrix of one graph iteration.

    ``matrix[i, j]`` is the least delay from the availability of state token ``j`` to that of
    token ``i`` one iteration later (``-inf``: no dependency). ``states[j]`` names token ``j``
    as ``(channel, position)``; position 0 is the head of the FIFO. Implicit tokens are
    ``("<self A>", 0)`` and ``("<processor p>", 0)``.
    """

    matrix: np.ndarray
    states: tuple[tuple[str, int], ...]


#: Largest product of one iteration's work (Σ q_a e_a) and the tokens of the graph: path sums of
#: the max-plus analyses are below the work, cycle ratios times token counts below the product,
#: so float64 arithmetic (up to 1.8e308) never overflows to inf or NaN.
MAX_WORK_TOKENS = 1e300
#: Largest number of tokens (initial tokens plus implicit ones): int64 sums of them never overflow.
MAX_TOKENS_TOTAL = 2**62
def _check_numbers(graph: DataflowGraph, q: dict[str, int]) -> None:
    """Refuse a graph whose execution times or token counts overflow the analyses' arithmetic.

    Raises
    ------
    InvalidGraphError
        One iteration's work :math:`\\sum_a q_a e_a` is not finite, the tokens exceed
        :data:`MAX_TOKENS_TOTAL`, or work × tokens exceeds :data:`MAX_WORK_TOKENS`.
    """
    arr = graph.arrays
    if not len(arr.execution_time):
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if graph.is_homogeneous:  # q is all ones (and this runs per candidate of a binding search)
            each = arr.execution_time
        else:
            each = arr.execution_time * np.array([q[a.name] for a in graph.actors], dtype=np.float64)
        work = float(np.sum(each))
    tokens = float(np.sum(arr.tokens, dtype=np.float64)) + len(graph.actors) + \
        len(graph.static_orders) + 1
    if not math.isfinite(work):
        top = int(np.argmax(each))
        raise InvalidGraphError(
            f"graph {graph.name!r}: the execution times of one iteration sum to more than 1.8e308 "
            f"(actor {graph.actors[top].name}: {q[graph.actors[top].name]} × "
            f"{float(arr.execution_time[top]):.3g}); they must stay finite")
    if tokens > MAX_TOKENS_TOTAL:
        raise InvalidGraphError(f"graph {graph.name!r}: {tokens:.3g} tokens in all, more than "
                                f"2^62 = {MAX_TOKENS_TOTAL:,}")
    if work * tokens > MAX_WORK_TOKENS:
        raise InvalidGraphError(
            f"graph {graph.name!r}: execution times too large to analyse: one iteration takes "
            f"{work:.3g} time units over {tokens:.3g} tokens, a product above 1e300 (float "
            "arithmetic would overflow)")


def _times(graph: DataflowGraph, exact: bool) -> list:
    if exact:
        return [t if type(t := a.execution_time) is int else Fraction(t) for a in graph.actors]
    return [float(a.execution_time) for a in graph.actors]


def time_array(graph: DataflowGraph, exact: bool) -> np.ndarray:
    """Execution times per actor: floats; exactly, int64 when all are integers that sum far below
    2^62 (Howard's exact certificate then stays in machine integers), else Fractions."""
    if not exact:
        return graph.arrays.execution_time
    times = _times(graph, True)
    if all(type(t) is int for t in times) and sum(map(abs, times)) < 2**40:
        return np.array(times, dtype=np.int64)
    return np.array(times, dtype=object)


@public
def maxplus_matrix(graph: DataflowGraph, *, auto_concurrency: bool = True,
                   exact: bool = False) -> MaxPlusMatrix:
    """Max-plus matrix of one iteration, by symbolic execution (dense: for small graphs).

    :func:`throughput` does not build it: it finds the same period on the sparse expansion of the
    iteration's firings (:mod:`~spikeforge.dataflow.expansion`); the matrix stays as the
    textbook reference and for inspecting how each state token depends on the others.

    One admissible iteration is replayed; each token carries a vector of time stamps over
    the state tokens (unit vectors at the start). A firing starts at the element-wise max of
    the vectors it consumes (its own previous completion and the processor token included)
    and its produced tokens carry that plus its execution time. The vectors left on the
    state positions at the end are the rows of the matrix.

    Parameters
    ----------
    graph : DataflowGraph
    auto_concurrency : bool
        True (default, SDF3 semantics): no implicit self-loops. False: add an implicit
        one-token self-loop to each actor.
    exact : bool
        Object array of Fractions (and ``-inf``) instead of floats.

    Returns
    -------
    MaxPlusMatrix

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent, a static order does not fit the repetition vector, or the
        execution times overflow the arithmetic.
    DeadlockError
        The graph deadlocks.
    ResourceError
        More firings than
        :data:`~spikeforge.dataflow.consistency.MAX_ITERATION_FIRINGS`, or more memory than is
        available (checked before the execution starts).

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
    ...                   (Channel("ab", "A", "B", 1, 2), Channel("ba", "B", "A", 2, 1, 2)))
    >>> maxplus_matrix(g).matrix
    array([[2., 2.],
           [2., 2.]])
    """
    q = repetition_vector(graph)
    _check_numbers(graph, q)
    # state tokens, each a vector over the state: the unit vectors and the matrix (size² each),
    # and at most one new vector per firing, before a long firing sequence is even computed
    size = (sum(c.initial_tokens for c in graph.channels) + len(graph.static_orders)
            + (0 if auto_concurrency else len(graph.actors)))
    item = 120 if exact else 8  # a pointer and a new Fraction, or a float64
    # The iteration matrix is dense, size × size: its memory is checked with the firings'.
    check_iteration(graph, q, f"symbolic execution over {size:,} state tokens",
                    bytes_per_firing=item * size,
                    extra_bytes=(2 * item * size + 120) * size)
    sequence = firing_sequence(graph, q)
    times = _times(graph, exact)
    states: list[tuple[str, int]] = [(c.name, i) for c in graph.channels
                                     for i in range(c.initial_tokens)]
    if not auto_concurrency:
        states += [(f"<self {a.name}>", 0) for a in graph.actors]
    states += [(f"<processor {p}>", 0) for p in graph.static_orders]
    size = len(states)
    dtype = object if exact else float

    def unit(j: int) -> np.ndarray:
        v = np.full(size, NEG_INF, dtype=dtype)
        v[j] = 0
        return v

    queues, j = [], 0
    for c in graph.channels:
        queues.append(deque(unit(j + i) for i in range(c.initial_tokens)))
        j += c.initial_tokens
    own = [unit(j + i) for i in range(len(graph.actors))] if not auto_concurrency else None
    j += 0 if auto_concurrency else len(graph.actors)
    proc_token = {p: unit(j + i) for i, p in enumerate(graph.static_orders)}
    proc_of = {a: p for p, o in graph.static_orders.items() for a in o}
    arr = graph.arrays
    inputs = [[] for _ in graph.actors]
    outputs = [[] for _ in graph.actors]
    for k, c in enumerate(graph.channels):
        inputs[int(arr.dst[k])].append((k, c.consumption))
        outputs[int(arr.src[k])].append((k, c.production))
    nothing = np.full(size, NEG_INF, dtype=dtype)
    for a in sequence:
        parts = [queues[k].popleft() for k, m in inputs[a] for _ in range(m)]
        if own is not None:
            parts.append(own[a])
        proc = proc_of.get(graph.actors[a].name)
        if proc is not None:
            parts.append(proc_token[proc])
        start = np.maximum.reduce(parts) if parts else nothing
        end = start + times[a]
        for k, m in outputs[a]:
            queues[k].extend([end] * m)
        if own is not None:
            own[a] = end
        if proc is not None:
            proc_token[proc] = end
    rows = [v for qu in queues for v in qu] + (own or []) + list(proc_token.values())
    matrix = np.vstack(rows) if rows else np.empty((0, 0), dtype=dtype)
    matrix.flags.writeable = False
    return MaxPlusMatrix(matrix, tuple(states))


def _homogeneous_ratio(graph: DataflowGraph, auto_concurrency: bool, exact: bool):
    """Maximum cycle ratio of a homogeneous graph with implicit and static-order edges."""
    arr = graph.arrays
    n, m = len(graph.actors), len(graph.channels)
    src, dst, tok = [arr.src], [arr.dst], [arr.tokens]
    if not auto_concurrency:
        ids = np.arange(n, dtype=np.int64)
        src.append(ids)
        dst.append(ids)
        tok.append(np.ones(n, dtype=np.int64))
    procs = list(graph.static_orders)
    actor, following, last, offsets = order_edges(graph)
    t = np.zeros(len(actor), dtype=np.int64)
    t[last] = 1
    src.append(actor)
    dst.append(actor[following])
    tok.append(t)
    s = np.concatenate(src)
    weight = time_array(graph, exact)[s]
    best = max_cycle_ratio(n, s, np.concatenate(dst), weight, np.concatenate(tok), exact=exact)
    implicit = 0 if auto_concurrency else n

    def label(e: int) -> str:
        if e < m:
            return graph.channels[e].name
        if e < m + implicit:
            return f"<self {graph.actors[e - m].name}>"
        return f"<order {procs[int(np.searchsorted(offsets, e - m - implicit, side='right')) - 1]}>"

    cycle = CriticalCycle(tuple(graph.actors[a].name for a in best.nodes),
                          tuple(label(e) for e in best.edges))
    return best.value, cycle


def _expanded_ratio(graph: DataflowGraph, q: dict[str, int], auto_concurrency: bool, exact: bool):
    """Maximum cycle ratio of the firings of one iteration (:mod:`~spikeforge.dataflow.expansion`)."""
    e = expand(graph, q, auto_concurrency=auto_concurrency)
    times = time_array(graph, exact)
    try:
        best = max_cycle_ratio(e.firings, e.src, e.dst, times[e.actor[e.src]], e.transit,
                               exact=exact)
    except DeadlockError:
        check_deadlock(graph)  # a token-free cycle of firings: name the blocked cycle of actors
        raise
    n = len(graph.actors)
    procs = list(graph.static_orders)

    def name(code: int) -> str:
        if code >= 0:
            return graph.channels[code].name
        if code >= -n:
            return f"<self {graph.actors[-1 - code].name}>"
        return f"<order {procs[-1 - n - code]}>"

    actors = dict.fromkeys(graph.actors[int(e.actor[f])].name for f in best.nodes)
    channels = dict.fromkeys(name(int(e.label[k])) for k in best.edges)
    return best.value, CriticalCycle(tuple(actors), tuple(channels))


@public
def throughput(graph: DataflowGraph, *, exact: bool | None = None,
               auto_concurrency: bool = True) -> ThroughputResult:
    """Self-timed throughput of ``graph`` with unbounded channels.

    Parameters
    ----------
    graph : DataflowGraph
    exact : bool, optional
        Fractions (execution times converted exactly) instead of floats; default: exact when no
        execution time is a float. Costs little more than floats (the float optimum is
        certified in integer arithmetic, :func:`~spikeforge.dataflow.maxplus.max_cycle_ratio`).
    auto_concurrency : bool
        True (default, SDF3's semantics): firings of one actor may overlap unless the graph
        has a self-edge on it. False: every actor is non-reentrant (an implicit self-loop with
        one token). Matches the flag of :func:`~spikeforge.dataflow.selftimed.simulate`.

    Returns
    -------
    ThroughputResult

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent or a static order does not fit the repetition vector, or its
        execution times overflow the arithmetic (one iteration's work times the tokens above
        :data:`MAX_WORK_TOKENS`).
    DeadlockError
        The graph deadlocks (the message names the blocked cycle).
    ResourceError
        A multi-rate graph too large to execute symbolically (see :func:`maxplus_matrix`).

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("c", "A", "B", 4, 10),))
    >>> r = throughput(g, exact=True, auto_concurrency=False)
    >>> r.throughput, dict(r.repetition_vector), dict(r.actor_throughput)
    (Fraction(1, 5), {'A': 5, 'B': 2}, {'A': Fraction(1, 1), 'B': Fraction(2, 5)})
    """
    exact = graph.exact_times if exact is None else exact
    q = repetition_vector(graph)
    _check_numbers(graph, q)
    if graph.is_homogeneous:
        check_deadlock(graph)
        value, cycle = _homogeneous_ratio(graph, auto_concurrency, exact)
    else:
        value, cycle = _expanded_ratio(graph, q, auto_concurrency, exact)
    if value == NEG_INF or value <= 0:
        period = Fraction(0) if exact else 0.0
        rate = math.inf
        per_actor = dict.fromkeys(q, math.inf)
    else:
        period = value
        rate = 1 / period
        per_actor = dict.fromkeys(q, rate) if graph.is_homogeneous else \
            {a: q[a] / period for a in q}
    return ThroughputResult(rate, period, MappingProxyType(q), cycle, MappingProxyType(per_actor))


@public
def critical_cycle(graph: DataflowGraph, *, exact: bool | None = None,
                   auto_concurrency: bool = True) -> CriticalCycle:
    """The cycle that attains the maximum cycle mean (see :class:`CriticalCycle`).

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent.
    DeadlockError
        The graph deadlocks.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
    ...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))
    >>> critical_cycle(g)
    CriticalCycle(actors=('A', 'B'), channels=('ab', 'ba'))
    """
    return throughput(graph, exact=exact, auto_concurrency=auto_concurrency).critical_cycle


@public
def first_iteration_end(graph: DataflowGraph) -> float | Fraction:
    """When the first iteration of a homogeneous graph completes in self-timed execution: the
    longest path of execution times over its token-free edges (channels without initial tokens
    and consecutive actors of a static order), in linear time; equal to simulating one
    iteration. Exact (an int or Fraction) when every execution time is.

    Raises
    ------
    DeadlockError
        Some actor never fires (a cycle without tokens; the message names it).

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel
    >>> g = DataflowGraph((Actor("a", 2), Actor("b", 3, "p"), Actor("c", 1, "p")),
    ...     (Channel("ab", "a", "b", 1, 1), Channel("ca", "c", "a", 1, 1, 1)), "g", {"p": ("c", "b")})
    >>> first_iteration_end(g)
    5
    """
    arr, idx = graph.arrays, graph.actor_index
    if np.any((arr.tokens == 0) & (arr.src == arr.dst)):
        check_deadlock(graph)  # a self-edge without tokens: raises, naming it
    free = (arr.tokens == 0) & (arr.src != arr.dst)
    src, dst = [arr.src[free]], [arr.dst[free]]
    for order in graph.static_orders.values():
        if len(order) > 1:
            ids = np.array([idx[a] for a in order], dtype=np.int64)
            src.append(ids[:-1])
            dst.append(ids[1:])
    end, stuck = first_firing_ends(len(graph.actors), np.concatenate(src), np.concatenate(dst),
                                   time_array(graph, graph.exact_times))
    if stuck is not None:
        check_deadlock(graph)  # raises, naming the blocked cycle
    last = end.max(initial=0)
    return last.item() if isinstance(last, np.generic) else last


def _narrow_wave(ready: list, first: list, dst: list, lag: list, times, start, end, waiting) -> np.ndarray:
    """One wave of :func:`first_firing_ends` node by node; the next wave."""
    following = []
    for v in ready:
        end[v] = done = start[v] + times[v]
        for e in range(first[v], first[v + 1]):
            u = dst[e]
            start[u] = max(start[u], done + lag[e])
            waiting[u] -= 1
            if waiting[u] == 0:
                following.append(u)
    return np.array(following, dtype=np.int64)


def first_firing_ends(n: int, src: np.ndarray, dst: np.ndarray, times: np.ndarray,
                      delay: np.ndarray | None = None) -> tuple[np.ndarray, list[int] | None]:
    """When each of ``n`` nodes ends its one firing, each starting once every edge into it has
    delivered (its source's end plus the edge's ``delay``): longest paths, in waves of nodes
    whose inputs are all complete, each wave touching only the edges it completes.

    Returns
    -------
    end : array (n,)
        In the dtype of ``times``.
    stuck : list of int or None
        None when every node fires; else the nodes of a cycle of edges none of which delivers.
    """
    delay = np.zeros(len(src), dtype=times.dtype) if delay is None else delay
    by_src = np.argsort(src, kind="stable")
    s, d, lag = src[by_src], dst[by_src], delay[by_src]
    first = np.searchsorted(s, np.arange(n + 1))
    waiting = np.bincount(d, minlength=n)
    start, end = np.zeros(n, dtype=times.dtype), np.zeros(n, dtype=times.dtype)
    ready = np.flatnonzero(waiting == 0)
    lists = None
    while len(ready):  # one wave of nodes whose inputs are all complete
        if len(ready) <= 8:  # a narrow wave (chains of one actor's firings): plain Python is cheaper
            lists = lists or (first.tolist(), d.tolist(), lag.tolist())
            ready = _narrow_wave(ready.tolist(), *lists, times, start, end, waiting)
            continue
        end[ready] = start[ready] + times[ready]
        counts = first[ready + 1] - first[ready]
        edges = np.repeat(first[ready] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        np.maximum.at(start, d[edges], end[s[edges]] + lag[edges])
        # only the successors: a deep graph runs one wave per node
        touched, arrivals = np.unique(d[edges], return_counts=True)
        waiting[touched] -= arrivals
        ready = touched[waiting[touched] == 0]
    if not np.any(waiting > 0):
        return end, None
    # every stuck node waits on a stuck predecessor: walking back must close a cycle
    into = dict(zip(d[waiting[s] > 0].tolist(), s[waiting[s] > 0].tolist()))
    walked: dict[int, int] = {}
    node = int(np.flatnonzero(waiting > 0)[0])
    while node not in walked:
        walked[node] = len(walked)
        node = into[node]
    return end, list(reversed(list(walked)[walked[node]:]))


@public
def latency(graph: DataflowGraph, actor: str | None = None, *,
            auto_concurrency: bool = True) -> float | Fraction:
    """First-iteration makespan: when ``actor`` completes its first-iteration firings.

    Measured from time 0, when all initial tokens are available, in self-timed execution
    with worst-case execution times: the end of the :math:`q_a`-th firing of ``actor``, or
    of the whole first iteration when ``actor`` is None. (This is the latency of the first
    input, not the steady-state latency in the periodic regime.)

    Raises
    ------
    InvalidGraphError
        ``actor`` is not in the graph, the graph is inconsistent, or its execution times
        overflow the arithmetic.
    DeadlockError
        The graph deadlocks.
    ResourceError
        One iteration has more than
        :data:`~spikeforge.dataflow.consistency.MAX_ITERATION_FIRINGS` firings, or its
        expansion (:mod:`~spikeforge.dataflow.expansion`) would not fit in memory. (An empty
        graph has latency 0.)

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)), (Channel("ab", "A", "B", 1, 1),))
    >>> latency(g, "A"), latency(g)
    (2, 5)
    """
    if actor is not None:
        graph.actor(actor)
    elif graph.is_homogeneous and auto_concurrency:
        _check_numbers(graph, repetition_vector(graph))
        return first_iteration_end(graph)
    q = repetition_vector(graph)
    _check_numbers(graph, q)
    check_iteration(graph, q, "latency (longest path over one iteration's firings)")
    # The first iteration's firings wait only on firings of the same iteration (expansion edges
    # of transit 0; earlier iterations' tokens are the initial ones): a longest path, not a
    # simulation of 10^4 firings one by one.
    e = expand(graph, q, auto_concurrency=auto_concurrency)
    free = e.transit == 0
    end, stuck = first_firing_ends(e.firings, e.src[free], e.dst[free],
                                   time_array(graph, graph.exact_times)[e.actor])
    if stuck is not None:
        check_deadlock(graph)  # raises, naming the blocked cycle
    if actor is not None:
        end = end[e.actor == graph.actor_index[actor]]
    last = end.max(initial=0)
    return last.item() if isinstance(last, np.generic) else last
