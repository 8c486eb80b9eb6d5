import json
from fractions import Fraction
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dataflow_strategies import eventually_periodic, hsdf_graphs, sdf_graphs
from spikeforge.dataflow.analysis import critical_cycle, latency, maxplus_matrix, throughput
from spikeforge.dataflow.consistency import blocked_cycle, check_deadlock, repetition_vector
from spikeforge.dataflow.maxplus import max_cycle_mean
from spikeforge.dataflow.sdf3 import read_sdf3
from spikeforge.dataflow.selftimed import simulate
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

SDF_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sdf"


def expected_graphs():
    path = SDF_DIR / "expected.json"
    if not path.is_file():
        return [pytest.param(None, None, marks=pytest.mark.skip(
            reason=f"shared SDF3 test models not found in {SDF_DIR.resolve()}"))]
    graphs = json.loads(path.read_text())["graphs"]
    return [pytest.param(name, entry, id=name) for name, entry in graphs.items()]


@pytest.mark.parametrize("name, entry", expected_graphs())
def test_expected_throughput(name, entry):
    # expected.json: graph iterations per time unit, unbounded buffers, auto-concurrent actors
    # (SDF3's semantics, the default of throughput() and simulate())
    g = read_sdf3(SDF_DIR / name)
    if entry.get("deadlock"):
        with pytest.raises(DeadlockError, match=r"cycle A -> B -> C -> A is blocked \(channels ch0, ch1, ch2"):
            throughput(g, exact=True)
        return
    r = throughput(g, exact=True)
    assert r.throughput == Fraction(entry["throughput"])
    if "max_cycle_mean" in entry:
        assert r.period == Fraction(entry["max_cycle_mean"])
    if "repetition_vector" in entry:
        assert dict(r.repetition_vector) == entry["repetition_vector"]
    sim = simulate(g, 40)
    assert eventually_periodic(sim.iteration_end, r.period)
    assert throughput(read_sdf3(SDF_DIR / name)).throughput == pytest.approx(float(r.throughput))


def test_channel_decoder_critical_cycle():
    # Times Sh=1, DM=6, CE=6, DC=2 and a one-token self-edge on DM: one DM firing per 6 time units.
    if not (SDF_DIR / "sdf_channel_decoder.xml").is_file():
        pytest.skip(f"shared SDF3 test models not found in {SDF_DIR.resolve()}")
    g = read_sdf3(SDF_DIR / "sdf_channel_decoder.xml")
    r = throughput(g, exact=True)
    assert r.throughput == Fraction(1, 6)
    assert set(r.critical_cycle.actors) <= {"DM", "CE"}
    assert eventually_periodic(simulate(g, 30).iteration_end, r.period)


def pipeline(times=(2, 3), tokens=1):
    return DataflowGraph(tuple(Actor(f"a{i}", t) for i, t in enumerate(times)),
                         (Channel("f", "a0", "a1", 1, 1), Channel("b", "a1", "a0", 1, 1, tokens)))


def test_auto_concurrency_default_vs_non_reentrant():
    g = pipeline((2, 3), tokens=2)
    auto = throughput(g, exact=True)  # SDF3 semantics: no implicit self-loops
    assert auto.period == Fraction(5, 2) and set(auto.critical_cycle.channels) == {"f", "b"}
    serial = throughput(g, exact=True, auto_concurrency=False)
    assert serial.period == 3  # a1's implicit self-loop
    assert critical_cycle(g, exact=True, auto_concurrency=False).channels == ("<self a1>",)
    # an explicit self-edge serialises an actor under the default semantics too
    looped = DataflowGraph(g.actors, g.channels + (Channel("s1", "a1", "a1", 1, 1, 1),))
    assert throughput(looped, exact=True).period == 3


def test_float_and_exact_agree_and_unbounded():
    g = pipeline((Fraction(1, 3), 2.5), tokens=1)
    assert throughput(g).period == pytest.approx(float(throughput(g, exact=True).period))
    acyclic = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("c", "A", "B", 1, 1),))
    r = throughput(acyclic)
    assert r.throughput == float("inf") and r.period == 0 and r.critical_cycle.actors == ()
    assert throughput(acyclic, auto_concurrency=False).period == 1


def test_repetition_vector_and_inconsistency():
    g = DataflowGraph((Actor("A", 1), Actor("B", 1), Actor("C", 1)),
                      (Channel("ab", "A", "B", 2, 3), Channel("bc", "B", "C", 1, 2)))
    assert repetition_vector(g) == {"A": 3, "B": 2, "C": 1}
    bad = DataflowGraph(g.actors, g.channels + (Channel("ca", "C", "A", 1, 1),))
    with pytest.raises(InvalidGraphError, match=r"channel (ab|bc|ca) \(\w -> \w\): rates \d:\d conflict "
                       r"with the other channels, which fix q\[\w\]/q\[\w\] = "):
        repetition_vector(bad)
    with pytest.raises(InvalidGraphError, match="channel bc .*inconsistent"):
        throughput(bad)


def test_multirate_deadlock_names_cycle():
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
                      (Channel("ab", "A", "B", 2, 3), Channel("ba", "B", "A", 3, 2, 3)))
    with pytest.raises(DeadlockError, match=r"cycle (A -> B -> A|B -> A -> B) is blocked"):
        throughput(g)
    with pytest.raises(DeadlockError, match="lack tokens"):
        simulate(g, 2)


def test_static_order_serialises_actors():
    # two independent self-looped actors on one crossbar: period = 2 + 3, not max(2, 3)
    actors = (Actor("A", 2, "x"), Actor("B", 3, "x"))
    loops = (Channel("aa", "A", "A", 1, 1, 1), Channel("bb", "B", "B", 1, 1, 1))
    free = DataflowGraph(actors, loops)
    ordered = DataflowGraph(actors, loops, static_orders={"x": ("A", "B")})
    assert throughput(free, exact=True).period == 3
    r = throughput(ordered, exact=True)
    assert r.period == 5 and r.critical_cycle.channels == ("<order x>", "<order x>")
    trace = simulate(ordered, 3, warmup=1).trace
    assert [(f.actor, f.start) for f in trace[:4]] == [("A", 0), ("B", 2), ("A", 5), ("B", 7)]
    # the same order through the symbolic (matrix) path
    mpm = maxplus_matrix(ordered, exact=True)
    assert max_cycle_mean(mpm.matrix).value == 5 and ("<processor x>", 0) in mpm.states


def test_static_order_multirate_and_errors():
    actors = (Actor("A", 1, "x"), Actor("B", 1, "x"))
    chans = (Channel("ab", "A", "B", 1, 2), Channel("ba", "B", "A", 2, 1, 2))
    g = DataflowGraph(actors, chans, static_orders={"x": ("A", "A", "B")})
    assert throughput(g, exact=True).period == 3
    bad = DataflowGraph(actors, chans, static_orders={"x": ("A", "B")})
    with pytest.raises(InvalidGraphError, match="actor B fires 1 times per iteration but occurs 1"):
        throughput(bad)
    stuck = DataflowGraph(actors, chans, static_orders={"x": ("B", "A", "A")})
    with pytest.raises(DeadlockError, match="<order x>"):
        check_deadlock(stuck)
    hsdf = DataflowGraph(actors, (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)),
                         static_orders={"x": ("B", "A")})
    with pytest.raises(DeadlockError, match=r"channels .*<order x>"):
        throughput(hsdf)


def test_latency():
    g = DataflowGraph((Actor("A", 2), Actor("B", 3), Actor("C", 1)),
                      (Channel("ab", "A", "B", 1, 1), Channel("bc", "B", "C", 1, 1),
                       Channel("ca", "C", "A", 1, 1, 1)))
    assert latency(g, "B") == 5 and latency(g) == 6
    with pytest.raises(InvalidGraphError, match="no actor named 'Z'"):
        latency(g, "Z")


def brute_force_ratio(g, auto_concurrency):
    """max over simple cycles of sum(exec) / sum(tokens); None if some cycle has no token."""
    best_tokens = {}
    for c in g.channels:
        key = (c.src, c.dst)
        best_tokens[key] = min(best_tokens.get(key, c.initial_tokens), c.initial_tokens)
    if not auto_concurrency:
        for a in g.actors:
            best_tokens[a.name, a.name] = min(best_tokens.get((a.name, a.name), 1), 1)
    dg = nx.DiGraph(list(best_tokens))
    best = None
    for cyc in nx.simple_cycles(dg):
        tokens = sum(best_tokens[cyc[i], cyc[(i + 1) % len(cyc)]] for i in range(len(cyc)))
        if tokens == 0:
            return None
        ratio = Fraction(sum(g.actor(a).execution_time for a in cyc), tokens)
        best = ratio if best is None else max(best, ratio)
    return best


@settings(max_examples=60, deadline=None)
@given(hsdf_graphs(live=False))
def test_hsdf_matches_brute_force_and_deadlock_iff_zero_token_cycle(g):
    zero = nx.DiGraph([(c.src, c.dst) for c in g.channels if c.initial_tokens == 0])
    has_zero_cycle = any(True for _ in nx.simple_cycles(zero))
    assert (blocked_cycle(g) is not None) == has_zero_cycle
    if has_zero_cycle:
        with pytest.raises(DeadlockError, match="deadlocks: cycle"):
            throughput(g)
        return
    for auto in (False, True):
        r = throughput(g, exact=True, auto_concurrency=auto)
        assert r.period == brute_force_ratio(g, auto)
        # the symbolic-execution matrix gives the same eigenvalue
        assert max_cycle_mean(maxplus_matrix(g, exact=True, auto_concurrency=auto).matrix).value \
            == r.period
        assert r.throughput == pytest.approx(float(throughput(g, auto_concurrency=auto).throughput))


@settings(max_examples=40, deadline=None)
@given(hsdf_graphs(min_time=1))
def test_hsdf_analysis_equals_simulation(g):
    for auto in (False, True):
        r = throughput(g, exact=True, auto_concurrency=auto)
        sim = simulate(g, 80, auto_concurrency=auto)
        assert eventually_periodic(sim.iteration_end, r.period)
        assert float(sim.throughput) == pytest.approx(float(r.throughput), rel=0.1)


@settings(max_examples=40, deadline=None)
@given(sdf_graphs())
def test_sdf_analysis_equals_simulation(g):
    assume(blocked_cycle(g) is None)
    for auto in (False, True):
        r = throughput(g, exact=True, auto_concurrency=auto)
        sim = simulate(g, 80, auto_concurrency=auto)
        assert eventually_periodic(sim.iteration_end, r.period)
        for a, q in r.repetition_vector.items():
            assert r.actor_throughput[a] == q / r.period


@settings(max_examples=80, deadline=None)
@given(hsdf_graphs(live=False))
def test_homogeneous_latency_is_the_simulated_first_iteration(g):
    """latency() of an HSDF graph is a longest path, not a simulation: the same value (exactly,
    as an int), and a deadlock raises the same named error."""
    try:
        simulated = simulate(g, 1, warmup=0).iteration_end[0]
    except DeadlockError:
        with pytest.raises(DeadlockError, match="is blocked"):
            latency(g)
        return
    value = latency(g)
    assert value == simulated and type(value) is int


@settings(max_examples=80, deadline=None)
@given(sdf_graphs(max_actors=4), st.booleans())
def test_multirate_latency_is_the_simulated_first_iteration(g, auto):
    """latency() of a multi-rate graph is a longest path over the expansion's same-iteration
    dependencies: exactly the simulated first iteration, per actor too."""
    run = simulate(g, 1, warmup=0, auto_concurrency=auto)
    assert latency(g, auto_concurrency=auto) == run.iteration_end[0]
    for a in g.actors:
        assert latency(g, a.name, auto_concurrency=auto) == max(f.end for f in run.trace if f.actor == a.name)
