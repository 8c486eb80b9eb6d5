"""The figures of one dataflow graph as a JSON-ready report (``spikeforge analyse``)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from spikeforge.api import public

if TYPE_CHECKING:
    from spikeforge.ir.dataflow import DataflowGraph

__all__ = ["analyse_report", "json_number"]


def json_number(value):
    """A Fraction as ``"p/q"``, infinity as ``"inf"``; other numbers unchanged (JSON has neither)."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return value


@public
def analyse_report(graph: DataflowGraph, *, exact: bool | None = None, max_steps: int = 50) -> dict:
    """Throughput, repetition vector, critical cycle, latency and buffer trade-off of a graph.

    Parameters
    ----------
    graph : DataflowGraph
    exact : bool, optional
        Fractions instead of floats (default: when no execution time is a float).
    max_steps : int
        Storage distributions the buffer trade-off analyses after the first.

    Returns
    -------
    dict
        JSON-ready (Fractions as ``"p/q"`` strings, infinity as ``"inf"``).

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent.
    DeadlockError
        The graph deadlocks; the message names the blocked cycle.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
    ...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))
    >>> analyse_report(g)["throughput"]
    '1/5'
    """
    from spikeforge.dataflow.analysis import latency, throughput
    from spikeforge.dataflow.buffers import buffer_tradeoff

    exact = graph.exact_times if exact is None else exact
    r = throughput(graph, exact=exact)
    points = buffer_tradeoff(graph, exact=exact, max_steps=max_steps, unbounded=r.throughput) \
        if graph.channels else ()
    first = latency(graph)
    complete = not graph.channels or bool(points) and (
        points[-1].throughput == r.throughput
        or float(points[-1].throughput) >= float(r.throughput) * (1 - 1e-9))
    return {
        "graph": graph.name,
        "actors": len(graph.actors),
        "channels": len(graph.channels),
        "throughput": json_number(r.throughput),
        "throughput_float": float(r.throughput),
        "period": json_number(r.period),
        "repetition_vector": dict(r.repetition_vector),
        "deadlock": False,
        "critical_cycle": {"actors": list(r.critical_cycle.actors),
                           "channels": list(r.critical_cycle.channels)},
        "latency": json_number(first),
        # total_size is SDF3's figure (tokens, self-edges included); memory counts token sizes
        "buffer_tradeoff": [{"total_size": p.total_size, "memory": p.memory,
                             "throughput": json_number(p.throughput),
                             "capacities": dict(p.capacities)} for p in points],
        # False when max_steps ran out before the unbounded throughput was reached
        "buffer_tradeoff_complete": complete,
        "_raw": {"throughput": r.throughput, "period": r.period, "points": points,
                 "latency": first},
    }
