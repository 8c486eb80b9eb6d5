"""The expansion of an SDF graph into its firings gives the symbolic execution's period."""

import math

import numpy as np
import pytest
from dataflow_strategies import sdf_graphs
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.dataflow.analysis import maxplus_matrix, throughput
from spikeforge.dataflow.consistency import repetition_vector
from spikeforge.dataflow.expansion import expand
from spikeforge.dataflow.maxplus import max_cycle_mean
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


@st.composite
def multirate_graphs(draw, max_actors=5):
    """Consistent multi-rate graphs with any number of initial tokens (deadlocks included), some
    with a static order over some actors."""
    n = draw(st.integers(1, max_actors))
    q = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    actors = tuple(Actor(f"a{i}", draw(st.integers(1, 7))) for i in range(n))
    channels = []
    pairs = [(i, (i + 1) % n) for i in range(n)] + draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    for k, (s, d) in enumerate(pairs):
        g = math.gcd(q[s], q[d])
        m = draw(st.integers(1, 2))
        prod, cons = q[d] // g * m, q[s] // g * m
        tokens = draw(st.integers(0, 2 * q[d] * cons))
        channels.append(Channel(f"c{k}", f"a{s}", f"a{d}", prod, cons, tokens))
    graph = DataflowGraph(actors, tuple(channels), name="g")
    if draw(st.booleans()) and n > 1:
        # one processor running two actors in an order that fits the repetition vector
        rv = repetition_vector(graph)
        a, b = draw(st.lists(st.sampled_from([x.name for x in actors]), min_size=2, max_size=2, unique=True))
        g = math.gcd(rv[a], rv[b])
        order = [a] * (rv[a] // g) + [b] * (rv[b] // g)
        bound = tuple(Actor(x.name, x.execution_time, "p" if x.name in (a, b) else None) for x in actors)
        graph = DataflowGraph(bound, tuple(channels), name="g", static_orders={"p": tuple(order)})
    return graph


def _reference(graph, auto_concurrency):
    """The period by symbolic execution over the dense max-plus matrix (the previous method)."""
    return max_cycle_mean(maxplus_matrix(graph, auto_concurrency=auto_concurrency, exact=True).matrix).value


@settings(max_examples=300, deadline=None)
@given(multirate_graphs(), st.booleans())
def test_expansion_period_equals_symbolic_execution(graph, auto_concurrency):
    try:
        expected = _reference(graph, auto_concurrency)
    except DeadlockError:
        with pytest.raises(DeadlockError, match="deadlocks: cycle"):
            throughput(graph, exact=True, auto_concurrency=auto_concurrency)
        return
    except InvalidGraphError:
        return  # a static order the repetition vector does not fit: both refuse it
    r = throughput(graph, exact=True, auto_concurrency=auto_concurrency)
    if expected == -math.inf or expected <= 0:
        assert r.throughput == math.inf
    else:
        assert r.period == expected
        assert set(r.critical_cycle.actors) <= {a.name for a in graph.actors}


@settings(max_examples=100, deadline=None)
@given(sdf_graphs(), st.booleans())
def test_float_and_exact_agree(graph, auto_concurrency):
    exact = throughput(graph, exact=True, auto_concurrency=auto_concurrency).period
    approx = throughput(graph, auto_concurrency=auto_concurrency).period
    assert approx == pytest.approx(float(exact), rel=1e-9)


def test_edges_connect_each_token_to_its_producer():
    # A produces 3, B consumes 2, 1 initial token: B's firings 0..2 read stream positions 0-1, 2-3, 4-5:
    # the initial token (made by A's last firing of the previous iteration) and A's tokens 0..4,
    # firing 0 making 0-2 and firing 1 making 3-5.
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("ab", "A", "B", 3, 2, 1),))
    e = expand(g, {"A": 2, "B": 3})
    edges = sorted(zip(e.src.tolist(), e.dst.tolist(), e.transit.tolist()))
    # firing nodes: A0=0, A1=1, B0=2, B1=3, B2=4; A's firing 1 of the previous iteration made token -1
    assert edges == [(0, 2, 0), (0, 3, 0), (1, 2, 1), (1, 4, 0)]
    assert np.array_equal(e.actor, [0, 0, 1, 1, 1])


def test_static_order_and_self_edges_are_labelled():
    g = DataflowGraph((Actor("A", 2, "p0"), Actor("B", 3, "p0")),
                      (Channel("ab", "A", "B", 2, 1, 0), Channel("ba", "B", "A", 1, 2, 4)),
                      static_orders={"p0": ("A", "B", "B")})
    r = throughput(g, exact=True, auto_concurrency=False)
    assert r.period == 8  # one processor: A + B + B per iteration
    assert "<order p0>" in r.critical_cycle.channels
