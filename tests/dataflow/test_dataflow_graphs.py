"""Strong components and BFS predecessors: the plain-Python path agrees with scipy's."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.dataflow import graphs


@st.composite
def edge_lists(draw):
    n = draw(st.integers(1, 30))
    m = draw(st.integers(0, 80))
    src = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    dst = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    return n, src, dst


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


@settings(max_examples=200, deadline=None)
@given(edge_lists())
def test_small_graphs_agree_with_scipy(monkeypatch_graph):
    n, src, dst = monkeypatch_graph
    use_scipy = graphs._use_scipy
    try:
        graphs._use_scipy = lambda n, m: False
        python = graphs.strong_components(n, src, dst)
        python_pred = graphs.bfs_predecessors(n, src, dst, 0)
        graphs._use_scipy = lambda n, m: True
        scipy = graphs.strong_components(n, src, dst)
        scipy_pred = graphs.bfs_predecessors(n, src, dst, 0)
    finally:
        graphs._use_scipy = use_scipy
    assert _same_partition(python, scipy)
    assert python_pred.tolist() == scipy_pred.tolist()


def test_components_are_numbered_by_least_node(monkeypatch):
    monkeypatch.setattr(graphs, "_use_scipy", lambda n, m: False)  # the plain Python path
    # 0 <-> 2 form one component, 1 and 3 are alone
    labels = graphs.strong_components(4, np.array([0, 2, 1]), np.array([2, 0, 3]))
    assert labels.tolist() == [0, 1, 0, 2]
