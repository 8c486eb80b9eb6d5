import doctest
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow_strategies import eventually_periodic
from spikeforge.dataflow import binding as binding_module
from spikeforge.dataflow import report as report_module
from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.binding import (BINDERS, LocalSearchBinder, Platform, apply_binding, bind,
                                         crossbar_name, evaluate, topological_order, with_schedule)
from spikeforge.dataflow.selftimed import simulate
from spikeforge.errors import (CapacityError, DeadlockError, InvalidGraphError, InvalidHardwareSpecError,
                               UnknownStrategyError)
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


@st.composite
def layered_apps(draw, max_layers=4, max_width=3):
    """Layered HSDF application: forward channels without tokens, buffer back-edges with 1-2."""
    widths = draw(st.lists(st.integers(1, max_width), min_size=1, max_size=max_layers))
    names, layers = [], []
    for li, w in enumerate(widths):
        layers.append([f"l{li}_{j}" for j in range(w)])
        names += layers[-1]
    times = draw(st.lists(st.integers(1, 6), min_size=len(names), max_size=len(names)))
    actors = tuple(Actor(a, t) for a, t in zip(names, times))
    channels = []
    for li in range(len(layers) - 1):
        for a in layers[li]:
            targets = draw(st.lists(st.sampled_from(layers[li + 1]), min_size=1, max_size=2,
                                    unique=True))
            for b in targets:
                size = draw(st.integers(1, 4))
                channels.append(Channel(f"{a}>{b}", a, b, 1, 1, 0, size))
                channels.append(Channel(f"{b}<{a}", b, a, 1, 1, draw(st.integers(1, 2))))
    return DataflowGraph(actors, tuple(channels), name="app")


platforms = st.builds(Platform, st.integers(1, 4), st.integers(1, 2),
                      st.integers(0, 3), st.sampled_from([2, 4, float("inf")]), st.integers(0, 1))


def layered(widths=(2, 2, 2), times=None, buffer=2):
    names = [[f"l{i}_{j}" for j in range(w)] for i, w in enumerate(widths)]
    flat = [a for layer in names for a in layer]
    times = times or [3] * len(flat)
    chans = []
    for i in range(len(names) - 1):
        for a in names[i]:
            for b in names[i + 1]:
                chans += [Channel(f"{a}>{b}", a, b, 1, 1), Channel(f"{b}<{a}", b, a, 1, 1, buffer)]
    return DataflowGraph(tuple(Actor(a, t) for a, t in zip(flat, times)), tuple(chans), name="L")


@settings(max_examples=25, deadline=None)
@given(layered_apps(), platforms, st.sampled_from(sorted(BINDERS)))
def test_every_actor_bound_exactly_once(app, platform, strategy):
    s = bind(app, platform, strategy, budget_per_step=6)
    assert set(s.binding) == {a.name for a in app.actors}
    placed = [a for order in s.orders.values() for a in order]
    assert sorted(placed) == sorted(s.binding)  # each actor once, in its crossbar's order
    assert all(s.binding[a] == x for x, order in s.orders.items() for a in order)
    assert all(0 <= x < platform.crossbars for x in s.binding.values())


@settings(max_examples=25, deadline=None)
@given(layered_apps(), platforms, st.sampled_from(["in-order", "load-balance", "pipeline"]))
def test_analysis_equals_self_timed_simulation_on_bound_graphs(app, platform, strategy):
    s = bind(app, platform, strategy)
    g = apply_binding(app, s.binding, s.orders, platform)
    exact = throughput(g, exact=True)
    assert float(exact.period) == pytest.approx(s.period, rel=1e-9)
    sim = simulate(g, 60)
    assert eventually_periodic(sim.iteration_end, exact.period)
    # every crossbar fires its actors one at a time, in its static order
    for x, order in s.orders.items():
        firings = [f for f in sim.trace if f.actor in set(order)]
        assert [f.actor for f in firings] == list(order) * 60
        assert all(b.start >= a.end for a, b in zip(firings, firings[1:]))


@settings(max_examples=12, deadline=None)
@given(layered_apps(max_layers=3), st.integers(0, 3), st.sampled_from([2, float("inf")]))
def test_more_crossbars_never_lower_local_search_guarantee(app, latency, bandwidth):
    rates = [bind(app, Platform(k, 2, latency, bandwidth, 1), LocalSearchBinder(budget_per_step=8)).throughput
             for k in range(1, 5)]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(rates, rates[1:])), rates


def test_binder_object_carries_its_budget():
    """The old keyword and the option of the object give the same schedule; it reaches no other binder."""
    app = layered((2, 3, 2), times=[1, 2, 3, 1, 2, 1, 2])
    by_object = bind(app, Platform(3), LocalSearchBinder(budget_per_step=3))
    by_keyword = bind(app, Platform(3), "local-search", budget_per_step=3)
    assert dict(by_object.binding) == dict(by_keyword.binding) and by_object.period == by_keyword.period
    assert by_object.strategy == "local-search"
    assert bind(app, Platform(3), "pipeline", budget_per_step=3).strategy == "pipeline"


def test_static_orders_and_links_in_bound_graph():
    app = layered((1, 1), times=[2, 3], buffer=1)
    p = Platform(2, link_latency=1, bandwidth=2)
    g = apply_binding(app, {"l0_0": 0, "l1_0": 1}, None, p)
    link = g.actor("link[l0_0>l1_0]")
    assert link.execution_time == Fraction(3, 2)  # 1 + size 1 / bandwidth 2
    assert g.static_orders[crossbar_name(0)] == ("l0_0",)
    assert g.static_orders["link[l0_0>l1_0]"] == ("link[l0_0>l1_0]",)
    assert throughput(g, exact=True).period == 8  # 2 + 3/2 + 3 + 3/2 (back link), 1 token
    assert evaluate(app, {"l0_0": 0, "l1_0": 1}, {0: ("l0_0",), 1: ("l1_0",)}, p).period == 8.0
    shared = apply_binding(app, {"l0_0": 0, "l1_0": 0}, {0: ("l0_0", "l1_0")}, p)
    assert throughput(shared, exact=True).period == 5 and len(shared.actors) == 2


def test_pipeline_beats_in_order_on_deep_graph():
    app = layered((2,) * 6, times=[1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1])
    p = Platform(4, 2, link_latency=1, local_latency=0)
    base = bind(app, p, "in-order")
    pipe = bind(app, p, "pipeline")
    best = bind(app, p, "local-search")
    assert best.throughput >= pipe.throughput > base.throughput


def test_reordering_to_a_deadlock_is_refused():
    app = layered((1, 1), buffer=1)
    with pytest.raises(DeadlockError, match="deadlocks"):
        throughput(apply_binding(app, {"l0_0": 0, "l1_0": 0}, {0: ("l1_0", "l0_0")}))


def test_with_schedule_round_trip():
    app = layered((2, 2))
    s = bind(app, Platform(2), "pipeline")
    g = with_schedule(app, s)
    assert {a.processor for a in g.actors} == {"xbar0", "xbar1"}
    assert dict(g.static_orders) == {crossbar_name(x): o for x, o in s.orders.items()}
    assert topological_order(app).tolist() == [0, 1, 2, 3]


def test_errors():
    app = layered((1, 1))
    with pytest.raises(UnknownStrategyError, match="unknown binder 'greedy'; known: in-order, load-balance, "
                                                   "pipeline, local-search"):
        bind(app, Platform(2), "greedy")
    with pytest.raises(CapacityError, match="crossbar 7 does not exist, platform has 2"):
        bind(app, Platform(2), crossbars=[0, 7])
    with pytest.raises(CapacityError, match="3 crossbars requested, platform has 2"):
        bind(app, Platform(2), crossbars=3)
    with pytest.raises(InvalidGraphError, match="1 actor\\(s\\) of 'L' not bound: l1_0"):
        apply_binding(app, {"l0_0": 0})
    with pytest.raises(CapacityError, match="actor l1_0 bound to crossbar 5, platform has 2"):
        apply_binding(app, {"l0_0": 0, "l1_0": 5}, platform=Platform(2))
    with pytest.raises(InvalidHardwareSpecError, match="platform: crossbars 0: must be ≥ 1"):
        Platform(0)
    with pytest.raises(InvalidHardwareSpecError, match="bandwidth must be > 0, got 0"):
        Platform(2, bandwidth=0)
    with pytest.raises(InvalidGraphError, match="has no actors"):
        bind(DataflowGraph((), ()), Platform(1))


def test_multirate_application_is_bound_through_the_graph():
    app = DataflowGraph((Actor("A", 1), Actor("B", 2)),
                        (Channel("ab", "A", "B", 2, 1), Channel("ba", "B", "A", 1, 2, 2)))
    s = bind(app, Platform(1), "in-order")
    assert s.orders[0].count("B") == 2 * s.orders[0].count("A")
    assert s.period == pytest.approx(float(throughput(apply_binding(app, s.binding, s.orders),
                                                      exact=True).period))


@pytest.mark.parametrize("module", [binding_module, report_module], ids=lambda m: m.__name__)
def test_dataflow_binding_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
