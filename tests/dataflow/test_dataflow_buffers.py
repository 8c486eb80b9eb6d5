import itertools
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings

from dataflow_strategies import hsdf_graphs, sdf_graphs
from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.buffers import buffer_tradeoff
from spikeforge.dataflow.consistency import blocked_cycle
from spikeforge.dataflow.sdf3 import read_sdf3
from spikeforge.errors import ArgumentError, DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

SDF_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sdf"

#: (total size, throughput) of each Pareto point, as SDF3's buffer-sizing analysis prints them
#: (``sdf3analysis-sdf --algo buffersize``, its zero point of a deadlocking lower bound left out;
#: SDF3 prints the throughputs as doubles, these are the exact values they round).
SDF3_PARETO = {
    "sdf_ConveyorBelt.xml": [(3, "1/5"), (4, "2/5"), (5, "3/5"), (6, "4/5"), (7, "1")],
    "sdf_channel_decoder.xml": [(9, "1/12"), (10, "1/8"), (11, "1/7"), (12, "1/6")],
    "sdf_eggs.xml": [(14, "1/4"), (22, "1/3"), (24, "1/2")],
    "sdf_multiple_outputs.xml": [(4, "1/2"), (6, "2/3")],
    "sdf_prod_cons.xml": [(10, "1/5"), (11, "1/4"), (12, "2/5")],
    "sdf_railroad.xml": [(13, "1/4")],
}


def sdf3_graphs():
    if not SDF_DIR.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(
            reason=f"shared SDF3 test models not found in {SDF_DIR.resolve()}"))]
    return [pytest.param(name, points, id=name) for name, points in SDF3_PARETO.items()]


@pytest.mark.parametrize("name, expected", sdf3_graphs())
def test_sdf3_pareto_points(name, expected):
    g = read_sdf3(SDF_DIR / name)
    points = buffer_tradeoff(g, exact=True, max_steps=10_000)
    assert [(p.total_size, p.throughput) for p in points] == \
        [(size, Fraction(rate)) for size, rate in expected]
    # SDF3 counts every self-edge at p + max(c, d) tokens; memory counts bounded channels only
    self_edges = sum(c.production + max(c.consumption, c.initial_tokens)
                     for c in g.channels if c.src == c.dst)
    assert all(p.total_size == sum(p.capacities.values()) + self_edges for p in points)
    assert points[-1].throughput == throughput(g, exact=True).throughput


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
    assert (points[0].total_size, points[0].memory) == (1 + 1, 1 + 4)  # bc's tokens are 4 wide
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




def test_unbounded_deadlock():
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
                      (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1)))
    with pytest.raises(DeadlockError, match=r"cycle A -> B -> A is blocked"):
        buffer_tradeoff(g)


def bounded(g, caps):
    extra = tuple(Channel(f"<capacity {n}>", c.dst, c.src, c.consumption, c.production,
                          caps[n] - c.initial_tokens)
                  for c in g.channels for n in [c.name] if n in caps)
    return DataflowGraph(g.actors, g.channels + extra, g.name, g.static_orders)


def bounded_rate(g, caps, auto_concurrency=True):
    try:
        return throughput(bounded(g, caps), exact=True, auto_concurrency=auto_concurrency).throughput
    except DeadlockError:
        return 0


def check_invariants(g, points, auto_concurrency, max_steps):
    sizes = [p.total_size for p in points]
    rates = [p.throughput for p in points]
    assert sizes == sorted(set(sizes)) and rates == sorted(set(rates)) and rates[0] > 0
    for p in points:
        assert bounded_rate(g, p.capacities, auto_concurrency) == p.throughput
    target = throughput(g, exact=True, auto_concurrency=auto_concurrency).throughput
    assert rates[-1] <= target
    if len(points) < max_steps // 4 and math.isfinite(target):
        assert rates[-1] == target


@settings(max_examples=40, deadline=None)
@given(hsdf_graphs(max_actors=5))
def test_invariants_homogeneous(g):
    for auto in (True, False):
        points = buffer_tradeoff(g, exact=True, auto_concurrency=auto, max_steps=200)
        check_invariants(g, points, auto, 200)


@settings(max_examples=25, deadline=None)
@given(sdf_graphs(max_actors=3))
def test_invariants_multirate(g):
    points = buffer_tradeoff(g, exact=True, max_steps=60)
    check_invariants(g, points, True, 60)


def brute_force_front(g, names, box):
    """Pareto front (size, throughput) over every capacity vector within ``box`` steps of the
    per-channel lower bounds, and the largest size below which the box holds every vector."""
    chans = [c for c in g.channels if c.name in names]
    steps = [math.gcd(c.production, c.consumption) for c in chans]
    lows = [max(c.initial_tokens, c.production + c.consumption - s + c.initial_tokens % s)
            for c, s in zip(chans, steps, strict=True)]
    best = {}
    for extra in itertools.product(range(box + 1), repeat=len(chans)):
        caps = {c.name: low + k * s for c, low, k, s in zip(chans, lows, extra, steps, strict=True)}
        size = sum(caps.values())
        best[size] = max(best.get(size, 0), bounded_rate(g, caps, auto_concurrency=False))
    front, top = [], 0
    for size in sorted(best):
        if best[size] > top:
            front.append((size, best[size]))
            top = best[size]
    return front, sum(lows) + box


@settings(max_examples=30, deadline=None)
@given(hsdf_graphs(max_actors=3) | sdf_graphs(max_actors=2))
def test_brute_force_front(g):
    names = [c.name for c in g.channels if c.src != c.dst][:3]
    assume(names)
    points = buffer_tradeoff(g, channels=names, exact=True, auto_concurrency=False, max_steps=500)
    front, limit = brute_force_front(g, names, 4 if len(names) <= 2 else 3)
    mine = [(sum(p.capacities.values()), p.throughput) for p in points]
    assert [pt for pt in mine if pt[0] <= limit] == [pt for pt in front if pt[0] <= limit]


def test_running_out_of_steps_is_not_a_deadlock():
    """A budget spent before the first point returns no points; it does not claim a deadlock."""
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
                      (Channel("ab", "A", "B", 2, 3), Channel("ba", "B", "A", 3, 2, 6)))
    full = buffer_tradeoff(g, exact=True)
    assert full and full[-1].throughput == throughput(g, exact=True).throughput
    for steps in range(len(full) + 2):
        points = buffer_tradeoff(g, exact=True, max_steps=steps)
        assert points == full[:len(points)]


def test_zero_execution_times_do_not_hide_a_bounded_deadlock():
    """With every execution time 0 a token-free cycle has ratio 0/0; it is still a deadlock."""
    g = DataflowGraph((Actor("a0", 0), Actor("a1", 0)),
                      (Channel("r0", "a0", "a1", 1, 1, 0), Channel("r1", "a1", "a0", 1, 1, 1),
                       Channel("e0", "a0", "a1", 1, 1, 1)))
    points = buffer_tradeoff(g, exact=True)
    assert points
    for p in points:
        assert bounded_rate(g, p.capacities) == p.throughput


def test_a_given_unbounded_throughput_must_be_positive():
    g = DataflowGraph((Actor("A", 1), Actor("B", 2)),
                      (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 2)))
    assert buffer_tradeoff(g, unbounded=throughput(g).throughput) == buffer_tradeoff(g)
    for bad in (-1, 0.0, float("nan")):
        with pytest.raises(ArgumentError, match="unbounded = .*: the throughput of unbounded buffers must be > 0"):
            buffer_tradeoff(g, unbounded=bad)
