"""Buffer-size / throughput trade-off of synchronous dataflow graphs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from spikeforge.api import public
from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.consistency import blocked_cycle
from spikeforge.errors import DeadlockError, InvalidGraphError, ResourceError
from spikeforge.ir.dataflow import Channel, DataflowGraph

__all__ = ["BufferPoint", "buffer_tradeoff"]


@dataclass(frozen=True)
class BufferPoint:
    """One point of the buffer-size / throughput trade-off.

    ``capacities[c]`` is the capacity of channel ``c`` in tokens; ``total_size`` is
    :math:`\\sum_c \\mathrm{capacity}_c \\cdot \\mathrm{token\\_size}_c`.
    """

    total_size: int
    capacities: Mapping[str, int]
    throughput: float | Fraction



#: Largest ``max_steps`` of :func:`buffer_tradeoff`, and the most one-token capacity increments
#: its search for the smallest deadlock-free capacities makes (each is a graph analysis).
MAX_TRADEOFF_STEPS = 10_000


def _capacity_lower_bound(c: Channel) -> int:
    """Least deadlock-free capacity of a channel on its own: p + c - g + d mod g (and >= d)."""
    g = math.gcd(c.production, c.consumption)
    return max(c.initial_tokens, c.production + c.consumption - g + c.initial_tokens % g)


def _bounded(graph: DataflowGraph, capacities: Mapping[str, int]) -> DataflowGraph:
    extra = []
    for c in graph.channels:
        if c.name in capacities:
            extra.append(Channel(f"<capacity {c.name}>", c.dst, c.src, c.consumption,
                                 c.production, capacities[c.name] - c.initial_tokens))
    return DataflowGraph(graph.actors, graph.channels + tuple(extra), graph.name,
                         graph.static_orders)


@public
def buffer_tradeoff(graph: DataflowGraph, *, channels: Sequence[str] | None = None,
                    auto_concurrency: bool = True, exact: bool | None = None,
                    max_steps: int = 200) -> tuple[BufferPoint, ...]:
    """Buffer-size / throughput trade-off points, by greedy growth along critical cycles.

    A capacity :math:`b_c` of channel ``c`` is modelled by a back-edge from ``dst`` to
    ``src`` with rates swapped and :math:`b_c - d_c` initial tokens (free space). Method:

    1. start from the per-channel lower bound :math:`p + c - \\gcd(p,c) + d \\bmod \\gcd(p,c)`
       (at least :math:`d`), and while the bounded graph deadlocks add one token of capacity to
       a capacity back-edge on the blocked cycle;
    2. record that distribution; then repeatedly compute the throughput, and for each capacity
       back-edge on the critical cycle try one more token of capacity, keeping the best;
       record a point whenever throughput strictly increases;
    3. stop when throughput reaches that of unbounded buffers, when the critical cycle holds
       no capacity edge (no bounded channel limits throughput), or after ``max_steps``.
       Under the default auto-concurrent semantics an acyclic graph (or one whose cycles all
       carry many tokens) has unbounded throughput with unbounded buffers, so every extra token
       helps and the search ends only at ``max_steps``.

    Limits: this is a greedy search (Stuijk et al. explore all distributions exactly, at much
    higher cost). Every returned point is achievable and the points are mutually
    non-dominated, but a smaller total size may exist for some throughputs, and growing one
    token at a time can be slow for large rates.

    Parameters
    ----------
    graph : DataflowGraph
    channels : sequence of str, optional
        Channels to bound (default: all channels except self-loops).
    auto_concurrency : bool
        See :func:`throughput`.
    exact : bool, optional
        Fraction arithmetic (default: when no execution time is a float).
    max_steps : int
        Maximum number of capacity increments in step 2, 0 .. :data:`MAX_TRADEOFF_STEPS`.

    Returns
    -------
    tuple of BufferPoint
        In increasing total size and strictly increasing throughput.

    Raises
    ------
    InvalidGraphError
        An unknown channel name, or an inconsistent graph.
    DeadlockError
        The graph deadlocks even with unbounded buffers.
    ResourceError
        ``max_steps`` above :data:`MAX_TRADEOFF_STEPS`, or step 1 needs more increments than that.
    ArgumentError
        ``max_steps`` is not an integer ≥ 0.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("ab", "A", "B", 1, 1),))
    >>> [(p.total_size, p.throughput) for p in buffer_tradeoff(g, auto_concurrency=False)]
    [(1, Fraction(1, 2)), (2, Fraction(1, 1))]
    >>> [(p.total_size, p.throughput) for p in buffer_tradeoff(g, max_steps=2)]
    [(1, Fraction(1, 2)), (2, Fraction(1, 1)), (3, Fraction(3, 2))]
    """
    from spikeforge.resources import check_count

    check_count(max_steps, "buffer_tradeoff: max_steps", low=0, high=MAX_TRADEOFF_STEPS)
    exact = graph.exact_times if exact is None else exact
    target = throughput(graph, exact=exact, auto_concurrency=auto_concurrency).throughput
    if channels is None:
        names = [c.name for c in graph.channels if c.src != c.dst]
    else:
        names = list(dict.fromkeys(channels))
        unknown = [c for c in names if c not in graph.channel_index]
        if unknown:
            raise InvalidGraphError(f"buffer_tradeoff: unknown channel(s) {', '.join(unknown)}")
    by_name = {c.name: c for c in graph.channels}
    caps = {c: _capacity_lower_bound(by_name[c]) for c in names}
    increments = 0
    while (blocked := blocked_cycle(_bounded(graph, caps))) is not None:
        grow = next((ch[len("<capacity "):-1] for ch in blocked[1] if ch.startswith("<capacity ")),
                    None)
        if grow is None:
            raise DeadlockError(f"buffer_tradeoff: graph {graph.name!r} with bounded channels "
                                f"blocks on cycle {' -> '.join(blocked[0])} of no bounded channel")
        if increments == MAX_TRADEOFF_STEPS:
            raise ResourceError(
                f"buffer_tradeoff: graph {graph.name!r} still deadlocks after {increments:,} "
                f"one-token capacity increments above the per-channel bounds (channel {grow} "
                f"at {caps[grow]:,}); too many to search")
        caps[grow] += 1
        increments += 1

    def point(capacities, result) -> BufferPoint:
        total = sum(v * by_name[c].token_size for c, v in capacities.items())
        return BufferPoint(total, MappingProxyType(dict(capacities)), result.throughput)

    current = throughput(_bounded(graph, caps), exact=exact, auto_concurrency=auto_concurrency)
    points = [point(caps, current)]
    tolerance = 0 if exact else 1e-9 * target if math.isfinite(target) else 0
    for _ in range(max_steps):
        if current.throughput >= target - tolerance:
            break
        grow = [ch[len("<capacity "):-1] for ch in current.critical_cycle.channels
                if ch.startswith("<capacity ")]
        if not grow:
            break
        best = None
        for name in dict.fromkeys(grow):
            trial = {**caps, name: caps[name] + 1}
            result = throughput(_bounded(graph, trial), exact=exact,
                                auto_concurrency=auto_concurrency)
            if best is None or result.throughput > best[1].throughput:
                best = (trial, result)
        caps, result = best
        if result.throughput > current.throughput + tolerance:
            points.append(point(caps, result))
        current = result
    return tuple(points)

