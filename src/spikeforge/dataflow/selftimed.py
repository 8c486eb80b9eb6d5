"""Discrete-event simulation of self-timed execution of a dataflow graph.

Self-timed execution starts every firing as soon as it is enabled: its input tokens are
present, the actor is idle if it is non-reentrant (``auto_concurrency=False``) and, when the actor is bound
to a processor with a static order, the processor is idle and the order has reached this
actor. Tokens are consumed at the start of a firing and produced at its end. This is the
execution whose long-run rate :func:`spikeforge.dataflow.analysis.throughput` computes.

Concurrency semantics
    By default (``auto_concurrency=True``, SDF3's semantics) firings of one actor may overlap
    unless the graph has a self-edge on it; an actor with no input channel then starts all
    its firings at time 0. Graphs built from a mapped SNN serialise each crossbar with a
    static order and each link with a self-loop. With ``auto_concurrency=False`` an actor
    runs at most one firing at a time, as if it had a self-loop with one initial token; the
    max-plus analysis models the same self-loop.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))
>>> r = simulate(g, 4, warmup=1)
>>> r.iteration_end, r.throughput
((5, 10, 15, 20), Fraction(1, 5))
>>> simulate(g, 10**9)
Traceback (most recent call last):
...
spikeforge.errors.ResourceError: graph '': self-timed simulation: 1,000,000,000 iterations fire 2,000,000,000 actors (q[A] = 1), more than the 1,000,000 firings spikeforge replays one by one
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from spikeforge.api import public
from spikeforge.dataflow.consistency import (
    check_deadlock,
    check_iteration,
    repetition_vector,
)
from spikeforge.errors import SimulationError
from spikeforge.ir.dataflow import Actor, DataflowGraph
from spikeforge.resources import check_count

__all__ = ["BYTES_PER_FIRING", "Firing", "SelfTimedResult", "simulate"]

#: Memory :func:`simulate` keeps per firing: the trace record, the completion time and the event
#: (about 200 bytes measured).
BYTES_PER_FIRING = 256


@dataclass(frozen=True)
class Firing:
    """One firing of ``actor`` from ``start`` to ``end``."""

    actor: str
    start: float | Fraction
    end: float | Fraction


@dataclass(frozen=True)
class SelfTimedResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    trace : tuple of Firing
        All firings, in order of start time.
    iteration_end : tuple
        ``iteration_end[k-1]`` is :math:`t(k)`, the time at which every actor ``a`` has
        completed :math:`k\\,q_a` firings.
    throughput : float or Fraction
        Measured iterations per time unit after the warm-up,
        :math:`(K - k_0)/(t(K) - t(k_0))` with :math:`t(0) = 0`; ``inf`` if no time passes.
    warmup : int
        :math:`k_0`, the iterations excluded from the measurement.
    """

    trace: tuple[Firing, ...]
    iteration_end: tuple[float | Fraction, ...]
    throughput: float | Fraction
    warmup: int


@public
def simulate(graph: DataflowGraph, iterations: int, *, warmup: int | None = None,
             execution_time: Callable[[Actor, int], float | Fraction] | None = None,
             auto_concurrency: bool = True) -> SelfTimedResult:
    """Simulate ``iterations`` graph iterations of self-timed execution from time 0.

    Parameters
    ----------
    graph : DataflowGraph
    iterations : int
        Iterations :math:`K \\ge 1` to run; actor ``a`` fires :math:`K\\,q_a` times, at most
        :data:`~spikeforge.dataflow.consistency.MAX_ITERATION_FIRINGS` firings in all.
    warmup : int, optional
        Iterations excluded from the throughput measurement (default ``iterations // 2``).
    execution_time : callable, optional
        ``execution_time(actor, k)`` gives the duration of the ``k``-th (0-based) firing of
        ``actor``; it must lie in ``[0, actor.execution_time]``. Default: the worst case.
    auto_concurrency : bool
        Allow overlapping firings of one actor (default; see module docstring).

    Returns
    -------
    SelfTimedResult

    Raises
    ------
    SimulationError
        ``iterations < 1``, an empty graph, ``warmup`` outside ``0 .. iterations-1``, or a drawn execution
        time outside ``[0, worst case]``.
    ResourceError
        The run has more than :data:`~spikeforge.dataflow.consistency.MAX_ITERATION_FIRINGS`
        firings, or needs more memory than is available; refused before it starts.
    DeadlockError
        The graph deadlocks.
    InvalidGraphError
        The graph is inconsistent.
    """
    check_count(iterations, "simulate: iterations", error=SimulationError)
    warmup = iterations // 2 if warmup is None else warmup
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < iterations:
        raise SimulationError(
            f"simulate: warmup must be an integer in 0..{iterations - 1}, got {warmup!r}")
    if not graph.actors:
        raise SimulationError(f"simulate: graph {graph.name!r} has no actors")
    q = repetition_vector(graph)
    check_iteration(graph, q, "self-timed simulation", bytes_per_firing=BYTES_PER_FIRING,
                    iterations=iterations)
    check_deadlock(graph)
    n = len(graph.actors)
    idx = graph.actor_index
    inputs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    outputs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    consumers: list[list[int]] = [[] for _ in range(len(graph.channels))]
    for k, c in enumerate(graph.channels):
        inputs[idx[c.dst]].append((k, c.consumption))
        outputs[idx[c.src]].append((k, c.production))
        consumers[k] = [idx[c.dst]]
    tokens = [c.initial_tokens for c in graph.channels]
    orders = {p: [idx[a] for a in o] for p, o in graph.static_orders.items()}
    proc_of = {idx[a]: p for p, o in graph.static_orders.items() for a in o}
    position = {p: 0 for p in orders}
    busy = {p: False for p in orders}
    limit = [iterations * q[a.name] for a in graph.actors]
    started = [0] * n
    running = [0] * n
    completed: list[list] = [[] for _ in range(n)]
    trace: list[Firing] = []
    events: list = []
    sequence = 0

    def duration(a: int, k: int):
        actor = graph.actors[a]
        if execution_time is None:
            return actor.execution_time
        d = execution_time(actor, k)
        if not 0 <= d <= actor.execution_time:
            raise SimulationError(
                f"actor {actor.name}, firing {k}: drawn execution time {d} outside "
                f"[0, {actor.execution_time}]")
        return d

    def enabled(a: int) -> bool:
        if started[a] >= limit[a] or (running[a] and not auto_concurrency):
            return False
        proc = proc_of.get(a)
        if proc is not None and (busy[proc] or orders[proc][position[proc] % len(orders[proc])] != a):
            return False
        return all(tokens[k] >= m for k, m in inputs[a])

    now = 0
    candidates = set(range(n))
    while True:
        for a in sorted(candidates):
            while enabled(a):
                for k, m in inputs[a]:
                    tokens[k] -= m
                proc = proc_of.get(a)
                if proc is not None:
                    busy[proc] = True
                    position[proc] += 1
                end = now + duration(a, started[a])
                started[a] += 1
                running[a] += 1
                trace.append(Firing(graph.actors[a].name, now, end))
                heapq.heappush(events, (end, sequence, a))
                sequence += 1
        if not events:
            break
        now = events[0][0]
        candidates = set()
        while events and events[0][0] == now:
            _, _, a = heapq.heappop(events)
            running[a] -= 1
            completed[a].append(now)
            candidates.add(a)
            for k, m in outputs[a]:
                tokens[k] += m
                candidates.update(consumers[k])
            proc = proc_of.get(a)
            if proc is not None:
                busy[proc] = False
                candidates.add(orders[proc][position[proc] % len(orders[proc])])
    ends = tuple(max(completed[a][k * q[graph.actors[a].name] - 1] for a in range(n))
                 for k in range(1, iterations + 1))
    t0 = ends[warmup - 1] if warmup else 0
    span = ends[-1] - t0
    done = iterations - warmup
    if span == 0:
        rate = math.inf
    elif isinstance(span, float):
        rate = done / span
    else:
        rate = Fraction(done) / span
    return SelfTimedResult(tuple(trace), ends, rate, warmup)
