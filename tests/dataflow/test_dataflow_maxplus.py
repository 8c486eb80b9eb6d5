import itertools
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.dataflow import maxplus
from spikeforge.dataflow.maxplus import max_cycle_mean, max_cycle_ratio
from spikeforge.errors import DeadlockError, InvalidGraphError

NEG = -np.inf


def test_hand_checked_2x2():
    # cycles: 1->1 mean 3, 2->2 mean 4, 1->2->1 mean (7 + 2) / 2 = 4.5
    r = max_cycle_mean(np.array([[3.0, 7.0], [2.0, 4.0]]))
    assert r.value == 4.5 and sorted(r.nodes) == [0, 1]
    exact = max_cycle_mean(np.array([[3, 7], [2, 4]], dtype=object))
    assert exact.value == Fraction(9, 2)


def test_reducible_matrix_takes_max_over_components():
    # two SCCs {0, 1} (mean 2) and {2} (mean 5), edge 0 -> 2 between them, node 3 acyclic
    a = np.full((4, 4), NEG)
    a[1, 0], a[0, 1] = 1.0, 3.0
    a[2, 2] = 5.0
    a[2, 0] = 100.0
    a[3, 2] = 1.0
    r = max_cycle_mean(a)
    assert r.value == 5.0 and r.nodes == (2,)


def test_acyclic_and_empty():
    a = np.full((3, 3), NEG)
    a[1, 0] = a[2, 1] = 4.0
    assert max_cycle_mean(a).value == -np.inf
    assert max_cycle_mean(np.empty((0, 0))).value == -np.inf


def test_ratio_with_tokens():
    # A(2) -> B(3), back-edge with 2 tokens, B self-loop with 1 token
    r = max_cycle_ratio(2, [0, 1, 1], [1, 0, 1], [2.0, 3.0, 3.0], [0, 2, 1])
    assert r.value == 3.0 and r.edges == (2,)


@pytest.mark.parametrize("matrix, match", [
    (np.zeros((2, 3)), "must be square"),
    (np.array([[np.nan]]), "NaN or \\+inf"),
    (np.array([[np.inf]]), "NaN or \\+inf"),
])
def test_matrix_errors(matrix, match):
    with pytest.raises(InvalidGraphError, match=match):
        max_cycle_mean(matrix)


def test_ratio_errors():
    with pytest.raises(InvalidGraphError, match="differ in length"):
        max_cycle_ratio(2, [0], [1, 0], [1.0], [1])
    with pytest.raises(InvalidGraphError, match="outside 0..1"):
        max_cycle_ratio(2, [0], [2], [1.0], [1])
    with pytest.raises(DeadlockError, match="no initial tokens"):
        max_cycle_ratio(2, [0, 1], [1, 0], [1.0, 1.0], [0, 0])


def brute_force_mean(a):
    g = nx.DiGraph()
    n = a.shape[0]
    g.add_nodes_from(range(n))
    g.add_edges_from((j, i) for i in range(n) for j in range(n) if a[i, j] != NEG)
    means = [Fraction(sum(a[c[(k + 1) % len(c)], c[k]] for k in range(len(c))), len(c))
             for c in nx.simple_cycles(g)]
    return max(means) if means else NEG


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.lists(
    st.one_of(st.just(None), st.integers(-5, 20)), min_size=n * n, max_size=n * n)))
def test_matches_brute_force(entries):
    n = int(round(len(entries) ** 0.5))
    a = np.array([NEG if e is None else e for e in entries], dtype=object).reshape(n, n)
    expected = brute_force_mean(a)
    exact = max_cycle_mean(a)
    assert exact.value == expected
    assert max_cycle_mean(a.astype(float)).value == pytest.approx(float(expected))
    if exact.nodes:  # the returned cycle attains the maximum
        c = exact.nodes
        total = sum(a[c[(k + 1) % len(c)], c[k]] for k in range(len(c)))
        assert Fraction(total, len(c)) == expected


def brute_force_ratio(n, src, dst, weight, transit):
    """Largest cycle ratio over the simple cycles (networkx), exactly; parallel edges kept."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    for e, (u, v) in enumerate(zip(src, dst)):
        g.add_edge(u, v, key=e)
    best = NEG
    for cycle in nx.simple_cycles(nx.DiGraph(g)):
        # the best parallel edge of each step depends on the ratio: enumerate their choices
        steps = [[e for e in g[u][cycle[(k + 1) % len(cycle)]]] for k, u in enumerate(cycle)]
        for choice in itertools.product(*steps):
            t = sum(transit[e] for e in choice)
            w = sum(Fraction(weight[e]) for e in choice)
            if t == 0:
                return None  # a deadlock
            best = max(best, w / t)
    return best


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(st.just(n), st.lists(
    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 3),
              st.one_of(st.integers(0, 10**18), st.integers(-50, 50),
                        st.fractions(0, 100, max_denominator=7))),
    min_size=1, max_size=9))))
def test_exact_ratio_matches_brute_force(case):
    """Exact ratios are exact: weights whose floats collide (near 10^18), negative weights and
    fractions; the float optimum is certified in integers (int64 or, past 2^62, Python ints).
    A cycle without tokens is refused in both arithmetics, whatever its weights."""
    n, edges = case
    src, dst, transit, weight = (list(c) for c in zip(*edges))
    expected = brute_force_ratio(n, src, dst, weight, transit)
    if expected is None:
        for exact in (True, False):
            with pytest.raises(DeadlockError, match="no initial tokens"):
                max_cycle_ratio(n, src, dst, weight, transit, exact=exact)
        return
    r = max_cycle_ratio(n, src, dst, weight, transit, exact=True)
    assert r.value == expected
    if r.edges:
        assert sum(Fraction(weight[e]) for e in r.edges) / sum(transit[e] for e in r.edges) == expected


@pytest.mark.parametrize("exact", [False, True])
def test_weightless_token_free_cycle_is_a_deadlock(exact):
    # Howard's iteration alone ends on the self-loop of node 2: nothing improves around a
    # cycle of weight 0, so the token-free cycle 0 <-> 1 must be found before it
    with pytest.raises(DeadlockError, match="nodes 0, 1 has no initial tokens"):
        max_cycle_ratio(3, [0, 1, 2, 0], [1, 0, 2, 2], [0, 0, 1, 0], [0, 0, 1, 1], exact=exact)


def test_certificate_refuses_a_policy_beyond_the_float_tolerance():
    """Two cycles whose ratios differ by less than the float tolerance (1e-9 of the largest
    weight): the certificate refuses the policy that stays on the smaller, and the exact
    result is the larger."""
    big = 10**12
    # edges sorted by source: 0 -> 0 (ratio big), 0 -> 1, and the cycle 1 <-> 2 (big + 1/2)
    src, dst = np.array([0, 0, 1, 2]), np.array([0, 1, 2, 1])
    weight, transit = [big, 0, big, big + 1], np.array([1, 0, 1, 1])
    stays = np.array([0, 2, 3])  # node 0 keeps its self-loop
    assert maxplus._certify(stays, src, dst, weight, transit, 3, np.arange(3), 1) is None
    leaves = np.array([1, 2, 3])
    eta, _, _ = maxplus._certify(leaves, src, dst, weight, transit, 3, np.arange(3), 1)
    assert list(eta) == [Fraction(2 * big + 1, 2)] * 3
    assert max_cycle_ratio(3, src, dst, np.array(weight, dtype=object), transit,
                           exact=True).value == Fraction(2 * big + 1, 2)
