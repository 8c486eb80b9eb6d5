from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
