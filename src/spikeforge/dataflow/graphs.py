"""Strongly connected components and breadth-first predecessors of an edge list.

scipy's :mod:`scipy.sparse.csgraph` does this in compiled code, but importing it takes 0.2–0.5 s,
more than analysing a graph of a few hundred actors takes. Graphs below :data:`SMALL` edges
and nodes are therefore handled here in plain Python (linear time, a few milliseconds) unless
scipy is imported already, larger ones by scipy; both give the same labels (components
numbered by their least node).
"""

from __future__ import annotations

import sys
from collections import deque

import numpy as np

#: Below this many nodes + edges, plain Python beats importing scipy.
SMALL = 20_000


def _use_scipy(n: int, m: int) -> bool:
    return n + m > SMALL or "scipy.sparse.csgraph" in sys.modules


def _adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> list[list[int]]:
    """Successor lists in ascending order, as scipy's CSR matrices visit them."""
    order = np.lexsort((dst, src))
    succ: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(src[order].tolist(), dst[order].tolist()):
        succ[s].append(d)
    return succ


def strong_components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Component label of each of the ``n`` nodes of the directed graph ``src[i] -> dst[i]``.

    >>> strong_components(4, np.array([0, 1, 2]), np.array([1, 0, 3])).tolist()
    [0, 0, 1, 2]
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    if _use_scipy(n, len(src)):
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        adjacency = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        labels = connected_components(adjacency, directed=True, connection="strong")[1]
        # numbered by least node, as _tarjan numbers them: the same labels on either path
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        return rank[inverse]
    return np.asarray(_tarjan(n, _adjacency(n, src, dst)), dtype=np.int64)


def _tarjan(n: int, succ: list[list[int]]) -> list[int]:
    """Tarjan's algorithm without recursion; labels numbered in order of first discovery."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    label = [-1] * n
    stack: list[int] = []
    counter = 0
    roots: list[int] = []
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            if i < len(succ[v]):
                work[-1] = (v, i + 1)
                w = succ[v][i]
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                roots.append(v)
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    label[w] = len(roots) - 1
                    if w == v:
                        break
    # number components by their least node, so labels do not depend on the traversal
    first = {}
    for v in range(n):
        first.setdefault(label[v], len(first))
    return [first[c] for c in label]


def bfs_predecessors(n: int, src: np.ndarray, dst: np.ndarray, source: int) -> np.ndarray:
    """Breadth-first predecessor of each node reached from ``source`` (-9999 if unreached or the
    source itself, as scipy's ``breadth_first_order``); edges are visited in the given order.

    >>> bfs_predecessors(4, np.array([0, 0, 1]), np.array([1, 2, 3]), 0).tolist()
    [-9999, 0, 0, 1]
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    if _use_scipy(n, len(src)):
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import breadth_first_order

        graph = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        return breadth_first_order(graph, source, directed=True, return_predecessors=True)[1]
    pred = [-9999] * n
    seen = [False] * n
    seen[source] = True
    succ = _adjacency(n, src, dst)
    queue = deque([source])
    while queue:
        v = queue.popleft()
        for w in succ[v]:
            if not seen[w]:
                seen[w] = True
                pred[w] = v
                queue.append(w)
    return np.asarray(pred, dtype=np.int64)
