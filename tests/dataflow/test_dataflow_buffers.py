from fractions import Fraction

import pytest

from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.buffers import buffer_tradeoff
from spikeforge.dataflow.consistency import blocked_cycle
from spikeforge.errors import InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


def test_buffer_tradeoff_pipeline():
    # A(1) -> B(2) -> C(1): unbounded period 2 (B's self-loop); capacity 1 serialises
    g = DataflowGraph((Actor("A", 1), Actor("B", 2), Actor("C", 1)),
                      (Channel("ab", "A", "B", 1, 1), Channel("bc", "B", "C", 1, 1, 0, 4)))
    points = buffer_tradeoff(g, auto_concurrency=False)
    assert points[0].capacities == {"ab": 1, "bc": 1}
    assert points[0].throughput == Fraction(1, 3)
    assert points[-1].throughput == throughput(g, exact=True, auto_concurrency=False).throughput \
        == Fraction(1, 2)
    sizes = [p.total_size for p in points]
    rates = [p.throughput for p in points]
    assert sizes == sorted(sizes) and rates == sorted(rates) and len(set(rates)) == len(rates)
    assert points[0].total_size == 1 + 4
    with pytest.raises(InvalidGraphError, match="unknown channel"):
        buffer_tradeoff(g, channels=["zz"])


def test_buffer_tradeoff_multirate_needs_deadlock_free_start():
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("ab", "A", "B", 2, 3),))
    points = buffer_tradeoff(g, auto_concurrency=False)
    assert points[0].capacities["ab"] == 4  # p + c - gcd(p, c)
    assert blocked_cycle(DataflowGraph(g.actors, g.channels + (
        Channel("back", "B", "A", 3, 2, 4),))) is None
    assert points[-1].throughput == throughput(g, exact=True, auto_concurrency=False).throughput
    # auto-concurrent actors: unbounded throughput, the search stops after max_steps
    auto = buffer_tradeoff(g, max_steps=5)
    assert 2 <= len(auto) <= 6 and [p.throughput for p in auto] == sorted({p.throughput for p in auto})


