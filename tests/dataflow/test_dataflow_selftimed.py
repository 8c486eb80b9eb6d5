import doctest
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow_strategies import eventually_periodic, hsdf_graphs, sdf_graphs
from spikeforge.dataflow import analysis, consistency, maxplus, sdf3, selftimed
from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.consistency import blocked_cycle
from spikeforge.dataflow.selftimed import simulate
from spikeforge.errors import SimulationError
from spikeforge.ir import dataflow as ir
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


def ring():
    return DataflowGraph((Actor("A", 2), Actor("B", 3)),
                         (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))


def test_trace_and_measurement():
    r = simulate(ring(), 3, warmup=1)
    assert [(f.actor, f.start, f.end) for f in r.trace] == [
        ("A", 0, 2), ("B", 2, 5), ("A", 5, 7), ("B", 7, 10), ("A", 10, 12), ("B", 12, 15)]
    assert r.iteration_end == (5, 10, 15) and r.throughput == Fraction(2, 10) and r.warmup == 1


def test_auto_concurrency_overlaps_firings():
    g = DataflowGraph((Actor("S", 1), Actor("T", 4)), (Channel("st", "S", "T", 1, 1),))
    seq = simulate(g, 2, warmup=0, auto_concurrency=False)
    assert [(f.actor, f.start) for f in seq.trace if f.actor == "T"] == [("T", 1), ("T", 5)]
    auto = simulate(g, 2, warmup=0)
    assert sorted(f.start for f in auto.trace if f.actor == "S") == [0, 0]
    assert auto.iteration_end == (5, 5) and auto.throughput == Fraction(2, 5)


def test_zero_time_graph_has_infinite_rate():
    g = DataflowGraph((Actor("A", 0),), (Channel("aa", "A", "A", 1, 1, 1),))
    assert simulate(g, 4).throughput == float("inf")


@pytest.mark.parametrize("kwargs, match", [
    ({"iterations": 0}, "simulate: iterations 0: must be ≥ 1"),
    ({"iterations": 3, "warmup": 3}, "warmup must be an integer in 0..2, got 3"),
    ({"iterations": 2, "execution_time": lambda a, k: a.execution_time + 1},
     "actor A, firing 0: drawn execution time 3 outside \\[0, 2\\]"),
    ({"iterations": 2, "execution_time": lambda a, k: -1}, "drawn execution time -1"),
])
def test_errors(kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate(ring(), **kwargs)
    with pytest.raises(SimulationError, match="has no actors"):
        simulate(DataflowGraph((), ()), 1)


@settings(max_examples=30, deadline=None)
@given(st.one_of(hsdf_graphs(min_time=1), sdf_graphs()), st.booleans(), st.integers(0, 2**32 - 1))
def test_faster_firings_never_slow_down(g, auto, seed):
    if blocked_cycle(g) is not None:
        return
    rng = random.Random(seed)
    k = 60
    worst = simulate(g, k, warmup=0, auto_concurrency=auto)
    quick = simulate(g, k, warmup=0, auto_concurrency=auto,
                     execution_time=lambda a, i: Fraction(rng.randint(0, 4), 4) * a.execution_time)
    assert all(t <= u for t, u in zip(quick.iteration_end, worst.iteration_end))
    r = throughput(g, exact=True, auto_concurrency=auto)
    assert eventually_periodic(worst.iteration_end, r.period)
    assert quick.throughput >= worst.throughput  # warm-up 0: k / t(k)


@pytest.mark.parametrize("module", [ir, consistency, maxplus, analysis, selftimed, sdf3],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
