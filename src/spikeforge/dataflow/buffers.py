"""Buffer-size / throughput trade-off of synchronous dataflow graphs (SDF3's Pareto space).

A capacity :math:`b_c` of channel ``c`` (rates :math:`p, c`, :math:`d` initial tokens) is a
back-edge from ``dst`` to ``src`` with the rates swapped and :math:`b_c - d` initial tokens (its
free space): a firing claims output space when it starts and frees input space when it ends,
as in SDF3's storage model (Stuijk, Geilen, Basten, DAC 2006).

The search is theirs: storage distributions are explored in order of total size, starting at
the per-channel lower bound :math:`p + c - g + d \\bmod g` (at least :math:`d`;
:math:`g = \\gcd(p, c)`), and a distribution's children enlarge by :math:`g` one channel whose
space blocks the critical cycle (its storage dependency). A throughput level is a Pareto
point when the best distribution of some size beats every smaller one. Enlarging a channel off
a critical cycle leaves that cycle, hence the throughput, unchanged; so every distribution of
least size for its throughput is reached by such single enlargements, whichever critical
cycle is followed, and the points equal SDF3's. The search ends at the throughput with
unbounded buffers.

Each distribution costs one maximum-cycle-ratio analysis. For homogeneous graphs (all rates 1,
the graphs of mapped SNNs) the bounded graph's edge arrays are built once and only the tokens of
the capacity edges change between distributions; Howard's iteration starts from the previous
critical cycle. Other graphs are analysed by :func:`~spikeforge.dataflow.analysis.throughput`
of the bounded graph.

Accounting (``total_size``, SDF3's): the capacities in tokens of the bounded channels, plus
:math:`p + \\max(c, d)` for each self-edge that is not bounded (SDF3 sizes self-edges so and never
enlarges them; spikeforge leaves them unbounded, which is the same for :math:`d < 2p`). Token
sizes do not count. ``memory`` is :math:`\\sum_c b_c \\cdot \\mathrm{token\\_size}_c` over the
bounded channels. SDF3 also lists a zero point (size 0, throughput 0) when the lower bound
deadlocks; here every point has positive throughput.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> g = DataflowGraph((Actor("A", 1), Actor("B", 2)),
...                   (Channel("ab", "A", "B", 1, 1), Channel("bb", "B", "B", 1, 1, 1)))
>>> [(p.total_size, p.capacities["ab"], p.throughput) for p in buffer_tradeoff(g)]
[(3, 1, Fraction(1, 3)), (4, 2, Fraction(1, 2))]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np

from spikeforge.api import public
from spikeforge.dataflow.analysis import throughput, time_array
from spikeforge.dataflow.consistency import (
    blocked_cycle,
    order_edges,
    repetition_vector,
)
from spikeforge.dataflow.expansion import channel_edges, expand
from spikeforge.dataflow.maxplus import NEG_INF, max_cycle_ratio
from spikeforge.errors import ArgumentError, DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import Channel, DataflowGraph

__all__ = ["MAX_TRADEOFF_STEPS", "BufferPoint", "buffer_tradeoff"]

#: Largest ``max_steps`` of :func:`buffer_tradeoff`: the storage distributions it analyses after
#: the first (each is one throughput analysis).
MAX_TRADEOFF_STEPS = 10_000


@dataclass(frozen=True)
class BufferPoint:
    """One Pareto point of the buffer-size / throughput trade-off.

    Attributes
    ----------
    total_size : int
        SDF3's figure, in tokens: the bounded channels' capacities plus :math:`p + \\max(c, d)`
        for every self-edge left unbounded.
    memory : int
        :math:`\\sum_c \\mathrm{capacity}_c \\cdot \\mathrm{token\\_size}_c` over the bounded
        channels.
    capacities : Mapping[str, int]
        Capacity in tokens of each bounded channel (initial tokens included).
    throughput : float or Fraction
        Graph iterations per time unit with these capacities.
    """

    total_size: int
    memory: int
    capacities: Mapping[str, int]
    throughput: float | Fraction


def _lower_bound(c: Channel) -> int:
    """Least capacity with which ``c`` alone lets both its actors fire (SDF3's bound)."""
    g = math.gcd(c.production, c.consumption)
    if c.src == c.dst:
        return c.production + max(c.consumption, c.initial_tokens)
    return max(c.initial_tokens, c.production + c.consumption - g + c.initial_tokens % g)


def _bounded(graph: DataflowGraph, bounded: Sequence[Channel], caps: Sequence[int]) -> DataflowGraph:
    """``graph`` with a capacity back-edge ``<capacity c>`` for each bounded channel."""
    extra = tuple(Channel(f"<capacity {c.name}>", c.dst, c.src, c.consumption, c.production,
                          b - c.initial_tokens) for c, b in zip(bounded, caps, strict=True))
    return DataflowGraph(graph.actors, graph.channels + extra, graph.name, graph.static_orders)


def _critical(n: int, src, dst, weight, transit, exact: bool, hint):
    """The critical cycle of a bounded graph and its throughput (inf when it has no cycle).

    Raises
    ------
    DeadlockError
        A cycle without tokens.
    """
    best = max_cycle_ratio(n, src, dst, weight, transit, exact=exact, hint=hint)
    return best, (math.inf if best.value == NEG_INF or best.value <= 0 else 1 / best.value)


class _Homogeneous:
    """Cycle-ratio analyses of one homogeneous graph under changing capacities.

    The edges (channels, capacity back-edges, implicit self-loops, static orders) are built
    once; a distribution only rewrites the tokens of the capacity edges.
    """

    def __init__(self, graph: DataflowGraph, bounded: Sequence[Channel], auto_concurrency: bool,
                 exact: bool):
        arr, idx = graph.arrays, graph.actor_index
        n, m = len(graph.actors), len(graph.channels)
        cap_src = np.array([idx[c.dst] for c in bounded], dtype=np.int64)
        cap_dst = np.array([idx[c.src] for c in bounded], dtype=np.int64)
        src, dst, tok = [arr.src, cap_src], [arr.dst, cap_dst], [arr.tokens, np.zeros(len(bounded), np.int64)]
        if not auto_concurrency:
            ids = np.arange(n, dtype=np.int64)
            src, dst, tok = src + [ids], dst + [ids], tok + [np.ones(n, dtype=np.int64)]
        actor, following, last, _ = order_edges(graph)
        order_tokens = np.zeros(len(actor), dtype=np.int64)
        order_tokens[last] = 1
        src, dst, tok = src + [actor], dst + [actor[following]], tok + [order_tokens]
        self.n, self.first, self.exact = n, m, exact
        self.src, self.dst = np.concatenate(src), np.concatenate(dst)
        self.tokens = np.concatenate(tok)
        self.initial = np.array([c.initial_tokens for c in bounded], dtype=np.int64)
        self.weight = time_array(graph, exact)[self.src]
        self.hint = None

    def __call__(self, caps: np.ndarray):
        """Throughput and the bounded channels (indices) on a critical cycle."""
        self.tokens[self.first:self.first + len(caps)] = caps - self.initial
        best, rate = _critical(self.n, self.src, self.dst, self.weight, self.tokens, self.exact,
                               self.hint)
        self.hint = best.edges
        return rate, [e - self.first for e in best.edges if self.first <= e < self.first + len(caps)]


class _General:
    """Cycle-ratio analyses of one multi-rate graph under changing capacities.

    The expansion of the graph's own channels (:mod:`~spikeforge.dataflow.expansion`) is built
    once; a distribution re-expands only the capacity edges, all at once, and Howard's
    iteration runs on the union, started from the previous critical cycle.
    """

    def __init__(self, graph: DataflowGraph, bounded: Sequence[Channel], auto_concurrency: bool,
                 exact: bool):
        idx = graph.actor_index
        q = repetition_vector(graph)
        base = expand(graph, q, auto_concurrency=auto_concurrency)
        self.base, self.exact, self.hint = base, exact, None
        self.reps = np.array([q[a.name] for a in graph.actors], dtype=np.int64)
        self.cap_src = np.array([idx[c.dst] for c in bounded], dtype=np.int64)
        self.cap_dst = np.array([idx[c.src] for c in bounded], dtype=np.int64)
        self.cap_production = np.array([c.consumption for c in bounded], dtype=np.int64)
        self.cap_consumption = np.array([c.production for c in bounded], dtype=np.int64)
        self.initial = np.array([c.initial_tokens for c in bounded], dtype=np.int64)
        self.times = time_array(graph, exact)[base.actor]

    def __call__(self, caps: np.ndarray):
        """Throughput and the bounded channels (indices) on a critical cycle."""
        b = self.base
        src, dst, transit, which = channel_edges(b.first, self.reps, self.cap_src, self.cap_dst,
                                                 self.cap_production, self.cap_consumption,
                                                 caps - self.initial)
        src, dst = np.concatenate([b.src, src]), np.concatenate([b.dst, dst])
        transit = np.concatenate([b.transit, transit])
        best, rate = _critical(b.firings, src, dst, self.times[src], transit, self.exact, self.hint)
        self.hint = best.edges
        first = len(b.src)
        return rate, sorted({int(which[e - first]) for e in best.edges if e >= first})


def _blocked_capacities(graph, bounded, caps, position) -> list[int]:
    """The bounded channels whose space closes the cycle on which ``graph`` so bounded deadlocks."""
    blocked = blocked_cycle(_bounded(graph, bounded, [int(b) for b in caps]))
    return sorted({position[n] for n in blocked[1] if n in position}) if blocked else []


@public
def buffer_tradeoff(graph: DataflowGraph, *, channels: Sequence[str] | None = None,
                    auto_concurrency: bool = True, exact: bool | None = None,
                    max_steps: int = 200, unbounded: float | Fraction | None = None
                    ) -> tuple[BufferPoint, ...]:
    """The Pareto points of total buffer size against throughput (see the module notes).

    Parameters
    ----------
    graph : DataflowGraph
    channels : sequence of str, optional
        Channels to bound (default: all channels except self-edges).
    auto_concurrency : bool
        See :func:`~spikeforge.dataflow.analysis.throughput`.
    exact : bool, optional
        Fraction arithmetic (default: when no execution time is a float).
    max_steps : int
        Storage distributions to analyse after the first, 0 .. :data:`MAX_TRADEOFF_STEPS`. When
        they run out first, the points returned are the first ones of the full trade-off.
    unbounded : float or Fraction, optional
        The graph's throughput with unbounded buffers, when already computed with the same
        ``exact`` and ``auto_concurrency`` (saves one analysis; default: computed here).

    Returns
    -------
    tuple of BufferPoint
        In strictly increasing ``total_size`` and throughput; the last one reaches the
        throughput of unbounded buffers unless ``max_steps`` ran out (under auto-concurrency
        an acyclic graph's throughput grows without bound, so it always does).

    Raises
    ------
    InvalidGraphError
        An unknown channel name, or an inconsistent graph.
    DeadlockError
        The graph deadlocks even with unbounded buffers, or bounding the given channels
        deadlocks whatever their capacities.
    ResourceError
        ``max_steps`` above :data:`MAX_TRADEOFF_STEPS`.
    ArgumentError
        ``max_steps`` is not an integer ≥ 0, or ``unbounded`` is not > 0.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("ab", "A", "B", 2, 3),))
    >>> [(p.total_size, p.throughput) for p in buffer_tradeoff(g, auto_concurrency=False)]
    [(4, Fraction(1, 5)), (5, Fraction(1, 4)), (6, Fraction(1, 3))]
    """
    from spikeforge.resources import check_count

    check_count(max_steps, "buffer_tradeoff: max_steps", low=0, high=MAX_TRADEOFF_STEPS)
    exact = graph.exact_times if exact is None else exact
    if unbounded is not None and not unbounded > 0:  # NaN too: it would end the search silently
        raise ArgumentError(f"buffer_tradeoff: unbounded = {unbounded!r}: the throughput of unbounded "
                            "buffers must be > 0")
    target = throughput(graph, exact=exact, auto_concurrency=auto_concurrency).throughput \
        if unbounded is None else unbounded
    if channels is None:
        bounded = [c for c in graph.channels if c.src != c.dst]
    else:
        unknown = [c for c in dict.fromkeys(channels) if c not in graph.channel_index]
        if unknown:
            raise InvalidGraphError(f"buffer_tradeoff: unknown channel(s) {', '.join(unknown)}")
        bounded = [graph.channels[graph.channel_index[c]] for c in dict.fromkeys(channels)]
    names = {c.name for c in bounded}
    fixed = sum(_lower_bound(c) for c in graph.channels if c.src == c.dst and c.name not in names)
    step = np.array([math.gcd(c.production, c.consumption) for c in bounded], dtype=np.int64)
    token_size = np.array([c.token_size for c in bounded], dtype=np.int64)
    position = {f"<capacity {c.name}>": i for i, c in enumerate(bounded)}
    analyse = (_Homogeneous if graph.is_homogeneous else _General)(graph, bounded, auto_concurrency,
                                                                   exact)
    tolerance = 0 if exact or not math.isfinite(target) else 1e-9 * target

    start = tuple(_lower_bound(c) for c in bounded)
    queue = [(sum(start), start)]  # storage distributions by total size
    seen = {start}
    points: list[BufferPoint] = []
    best = 0
    analysed = 0
    out_of_steps = False
    while queue and best < target - tolerance:
        size = queue[0][0]
        level = []
        while queue and queue[0][0] == size:
            level.append(heapq.heappop(queue)[1])
        if analysed + len(level) > max_steps + 1:
            out_of_steps = True
            break  # a partly analysed size could miss its best distribution
        analysed += len(level)
        winner = None
        for caps in level:
            vector = np.array(caps, dtype=np.int64)
            try:
                rate, grow = analyse(vector)
            except DeadlockError:
                if analysed > max_steps:  # no step left to enlarge it: skip naming the blocked cycle
                    rate, grow, out_of_steps = 0, [], True
                else:
                    rate, grow = 0, _blocked_capacities(graph, bounded, vector, position)
            if rate > best + tolerance and (winner is None or rate > winner[0]):
                winner = (rate, caps)
            for i in grow:
                child = caps[:i] + (caps[i] + int(step[i]),) + caps[i + 1:]
                if child not in seen:
                    seen.add(child)
                    heapq.heappush(queue, (size + int(step[i]), child))
        if winner is not None:
            best, caps = winner
            points.append(BufferPoint(size + fixed, int(np.dot(caps, token_size)),
                                      MappingProxyType(dict(zip([c.name for c in bounded], caps,
                                                                strict=True))), best))
    if not points and not queue and not out_of_steps:
        shown = sorted(names)
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5:,} more" if len(shown) > 5 else "")
        raise DeadlockError(f"buffer_tradeoff: graph {graph.name!r} deadlocks with the channels "
                            f"{listed} bounded, whatever their capacities")
    return tuple(points)
