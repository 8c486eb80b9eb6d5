"""Max-plus algebra: maximum cycle mean and maximum cycle ratio by Howard's policy iteration.

In max-plus algebra :math:`a \\oplus b = \\max(a, b)`, :math:`a \\otimes b = a + b` and
:math:`\\varepsilon = -\\infty` marks "no edge". A matrix :math:`A` acts by
:math:`x_i(k+1) = \\max_j \\big(A_{ij} + x_j(k)\\big)`; its precedence graph has an edge
:math:`j \\to i` of weight :math:`A_{ij}` for every finite entry. The eigenvalue that governs
the growth of :math:`x(k)` is the maximum cycle mean

.. math:: \\lambda(A) = \\max_{\\text{cycles } C} \\frac{\\sum_{e \\in C} w_e}{|C|},

and, for a graph whose edges also carry a transit time :math:`t_e` (initial tokens), the
maximum cycle ratio :math:`\\max_C \\sum w_e / \\sum t_e`.

No maintained Python library provides these (networkx and scipy have no cycle-mean or
max-plus eigenvalue routine), so Howard's policy iteration is written here by hand following
Cochet-Terrasson, Cohen, Gaubert, McGettrick and Quadrat, *Numerical computation of spectral
elements in max-plus algebra* (IFAC 1998) and Dasdan, *Experimental analysis of the fastest
optimum cycle ratio and mean algorithms* (ACM TODAES 2004). Every step is vectorised with
numpy over edge arrays; strongly connected components and policy cycles come from
``scipy.sparse.csgraph``. Reducible graphs are handled: when some node has no outgoing edge,
only edges inside strongly connected components (which alone can lie on cycles) are kept; the
policy iteration runs on all components at once, and the result is the maximum over them.

Examples
--------
>>> import numpy as np
>>> A = np.array([[3.0, 7.0], [2.0, 4.0]])
>>> r = max_cycle_mean(A)
>>> r.value, r.nodes
(4.5, (0, 1))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.dataflow.graphs import bfs_predecessors, strong_components
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.resources import check_memory

__all__ = ["MaxCycle", "max_cycle_mean", "max_cycle_ratio"]

NEG_INF = -math.inf
#: Largest product of the total absolute edge weight and the total transit (plus one): cycle
#: ratios times transits stay below it, so float64 arithmetic never overflows to inf or NaN.
MAX_WEIGHT_TRANSIT = 1e300
#: Bytes per node and per edge that Howard's iteration keeps (index arrays, the sparse matrix).
_BYTES_PER_NODE, _BYTES_PER_EDGE = 48, 160


def _edge_arrays(n, src, dst, weight, transit, exact: bool, hint):
    """The edge arrays of :func:`max_cycle_ratio` as numpy arrays, checked before any work."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidGraphError(f"max_cycle_ratio: n = {n!r}: must be an integer ≥ 0")
    try:
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        transit = np.asarray(transit, dtype=np.int64)
        hint = None if hint is None else np.asarray(hint, dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidGraphError(f"max_cycle_ratio: src, dst, transit and hint must be integer "
                                f"arrays ({exc})") from None
    try:
        if exact and np.asarray(weight).dtype.kind in "iu" \
                and np.abs(np.asarray(weight, dtype=float)).sum() < 2**62:
            weight = np.asarray(weight, dtype=np.int64)  # exact, and no sum of them overflows
        elif exact:
            raw = np.asarray(weight, dtype=object)
            # ints stay ints (exact, and far cheaper than Fractions)
            weight = np.array([w if type(w) is int else Fraction(w) for w in raw.tolist()],
                              dtype=object) if raw.ndim == 1 else raw
        else:
            weight = np.asarray(weight, dtype=float)
    except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        raise InvalidGraphError(f"max_cycle_ratio: weights must be finite numbers ({exc})") from None
    for name, a in (("src", src), ("dst", dst), ("weight", weight), ("transit", transit)):
        if a.ndim != 1:
            raise InvalidGraphError(f"max_cycle_ratio: {name} must be one-dimensional, got shape "
                                    f"{a.shape}")
    m = len(src)
    check_memory(n * _BYTES_PER_NODE + m * _BYTES_PER_EDGE,
                 f"max_cycle_ratio: a graph of {n:,} nodes and {m:,} edges")
    if not (len(dst) == len(weight) == len(transit) == m):
        raise InvalidGraphError(
            f"max_cycle_ratio: edge arrays differ in length (src {m}, dst {len(dst)}, "
            f"weight {len(weight)}, transit {len(transit)})")
    if m and transit.min() < 0:
        raise InvalidGraphError(f"max_cycle_ratio: transit {int(transit.min())} of edge "
                                f"{int(np.argmin(transit))} is negative")
    if hint is not None and (hint.ndim != 1 or (len(hint) and (hint.min() < 0 or hint.max() >= m))):
        raise InvalidGraphError(f"max_cycle_ratio: hint must list edge indices in 0..{m - 1}")
    if m and not exact:
        if not np.all(np.isfinite(weight)):
            e = int(np.flatnonzero(~np.isfinite(weight))[0])
            raise InvalidGraphError(f"max_cycle_ratio: weight {weight[e]} of edge {e} is not finite")
        total_t = float(np.sum(transit, dtype=np.float64)) + 1
        with np.errstate(over="ignore"):
            total_w = float(np.sum(np.abs(weight)))
        if not total_w * total_t <= MAX_WEIGHT_TRANSIT:
            raise InvalidGraphError(
                f"max_cycle_ratio: weights summing to {total_w:.3g} over a transit of "
                f"{total_t:.3g}: their product exceeds 1e300 (float arithmetic would overflow)")
        if total_t > 2**62:
            raise InvalidGraphError(f"max_cycle_ratio: transits sum to {total_t:.3g}, more than 2^62")
    return src, dst, weight, transit, hint


@dataclass(frozen=True)
class MaxCycle:
    """A cycle attaining the maximum cycle ratio or mean.

    Attributes
    ----------
    value : float or Fraction
        The maximum; ``-inf`` when the graph has no cycle.
    nodes : tuple of int
        Nodes of one critical cycle, in edge direction, starting anywhere on the cycle.
    edges : tuple of int
        Indices (into the input edge arrays) of the cycle's edges; ``edges[i]`` leaves
        ``nodes[i]``. Empty for :func:`max_cycle_mean`, whose edges are matrix entries.
    """

    value: float | Fraction
    nodes: tuple[int, ...]
    edges: tuple[int, ...]


def _segment_argmax(values: np.ndarray, owner: np.ndarray, starts: np.ndarray):
    """Per segment (edges sorted by owner, every segment non-empty): max and first argmax."""
    best = np.maximum.reduceat(values, starts)
    hits = np.flatnonzero(values == best[owner])
    hit_owner = owner[hits]
    new = np.empty(len(hits), dtype=bool)
    new[0] = True
    np.not_equal(hit_owner[1:], hit_owner[:-1], out=new[1:])
    return best, hits[new]


@public
def max_cycle_ratio(n: int, src: ArrayLike, dst: ArrayLike, weight: ArrayLike, transit: ArrayLike, *,
                    exact: bool = False, hint: ArrayLike | None = None) -> MaxCycle:
    """Maximum cycle ratio :math:`\\max_C \\sum_{e\\in C} w_e / \\sum_{e\\in C} t_e` (Howard).

    Parameters
    ----------
    n : int
        Number of nodes (``0 .. n-1``).
    src, dst : array_like of int
        Edge endpoints.
    weight : array_like
        Edge weights (floats, or ints/Fractions when ``exact``).
    transit : array_like of int
        Edge transit times (tokens), :math:`\\ge 0`.
    exact : bool
        Compute with :class:`fractions.Fraction` (no tolerance; for small graphs).
    hint : sequence of int, optional
        Edges of a cycle believed to be critical (e.g. the busiest processor's static order);
        only steers the initial policy, never the result. Default: the self-loop of largest
        ratio, if any.

    Returns
    -------
    MaxCycle

    Raises
    ------
    DeadlockError
        A cycle has total transit 0 (its ratio is unbounded; as a dataflow graph it deadlocks).
    InvalidGraphError
        Array lengths differ or a node index is out of range.

    Examples
    --------
    >>> r = max_cycle_ratio(2, [0, 1, 1], [1, 0, 1], [2.0, 3.0, 2.0], [0, 2, 1])
    >>> r.value, r.nodes, r.edges
    (2.5, (0, 1), (0, 1))
    """
    src, dst, weight, transit, hint = _edge_arrays(n, src, dst, weight, transit, exact, hint)
    m = len(src)
    if m and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise InvalidGraphError(f"max_cycle_ratio: an edge endpoint is outside 0..{n - 1}")
    if m == 0:
        return MaxCycle(NEG_INF, (), ())
    _refuse_hidden_token_free(n, src, dst, weight, transit, exact)
    if np.all(np.bincount(src, minlength=n) > 0):
        # every node leaves by some edge, so every policy reaches a cycle: Howard needs no
        # restriction to the strongly connected components (a buffer search's bounded graphs,
        # a mapped network's graph of millions of edges: no index copies either)
        nodes = np.arange(n)
        if np.all(src[1:] >= src[:-1]):  # sorted already: views, not copies
            order, s, d = np.arange(m), src, dst
        else:
            order = np.argsort(src, kind="stable")
            s, d = src[order], dst[order]
    else:
        label = strong_components(n, src, dst)
        keep = np.flatnonzero(label[src] == label[dst])
        if not len(keep):
            return MaxCycle(NEG_INF, (), ())
        present = np.zeros(n, dtype=bool)
        present[src[keep]] = True
        nodes = np.flatnonzero(present)
        local = np.full(n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        order = keep[np.argsort(local[src[keep]], kind="stable")]
        s, d = local[src[order]], local[dst[order]]
    w, t = (weight, transit) if s is src else (weight[order], transit[order])
    k = len(nodes)
    starts = np.searchsorted(s, np.arange(k))
    if exact:
        policy, eta, pointer, succ = _exact_howard(s, d, w, t, k, starts, nodes, order, m, hint)
    else:
        policy = _initial_policy(s, d, w, t, k, starts, False, order, m, hint)
        policy, eta, pointer, succ = _howard(policy, s, d, w, t, k, starts, False, nodes)
    roots = np.flatnonzero(pointer == np.arange(k))  # one node per policy cycle
    root = int(roots[np.argmax(eta[roots])])
    following = succ.tolist()  # Python ints: critical cycles of expansions run to 10^4 nodes
    cycle = [root]
    v = following[root]
    while v != root:
        cycle.append(v)
        v = following[v]
    on = np.array(cycle, dtype=np.int64)
    value = eta[root]
    return MaxCycle(value if exact else float(value), tuple(nodes[on].tolist()),
                    tuple(order[policy[on]].tolist()))


def _tolerance(w: np.ndarray) -> float:
    """The float policy iteration's tolerance: a change smaller than this is no improvement."""
    return 1e-9 * max(1.0, float(np.max(np.abs(w))))


def _token_free(nodes) -> DeadlockError:
    return DeadlockError(
        f"cycle through nodes {', '.join(str(int(u)) for u in nodes)} has no initial tokens "
        "(total transit 0): its ratio is unbounded")


def _refuse_hidden_token_free(n, src, dst, weight, transit, exact: bool) -> None:
    """Refuse a token-free cycle that policy iteration could end without noticing.

    Around a cycle of transit 0 and weight W every policy leaves some edge that improves its
    bias by W / length or more, so Howard's iteration cannot stop while such a cycle exists
    unless W is within its tolerance (0 in exact arithmetic): the cycle ratio W / 0 would be
    missed only on cycles of (nearly) weightless edges, zero execution times in a dataflow
    graph. Those edges alone are searched for a cycle (usually there are none, and this costs
    a mask). With a negative weight on a token-free edge every such edge is searched.

    Raises
    ------
    DeadlockError
        Names the nodes of a strongly connected set of such edges.
    """
    zero = np.flatnonzero(transit == 0)
    if not len(zero):
        return
    w = weight[zero]
    if not np.any(w < 0):
        zero = zero[w <= 0] if exact else zero[w <= n * _tolerance(weight)]
    if not len(zero):
        return
    nodes, ends = np.unique(np.concatenate([src[zero], dst[zero]]), return_inverse=True)
    s, d = ends[:len(zero)], ends[len(zero):]
    label = strong_components(len(nodes), s, d)
    inside = np.flatnonzero(label[s] == label[d])
    if len(inside):
        raise _token_free(nodes[label == label[s[inside[0]]]])


def _howard(policy, s, d, w, t, k, starts, exact, nodes):
    """Policy iteration from ``policy`` until no edge improves it: (policy, eta, pointer, succ)."""
    tol = 0 if exact else _tolerance(w)
    neg = np.full(len(w), NEG_INF, dtype=object if exact else float)
    while True:
        eta, x, pointer, succ = _evaluate(policy, d, w, t, k, exact, nodes)
        eta_d = eta[d]
        eta_s = eta[s]
        if np.any(eta_d > eta_s + tol):
            # first criterion: move towards a cycle of larger ratio
            best_eta, _ = _segment_argmax(eta_d, s, starts)
            change = best_eta > eta + tol
            eta_s = best_eta[s]
        else:
            change = np.zeros(k, dtype=bool)
        value = np.where(eta_d >= eta_s - tol, w - eta_s * t + x[d], neg)
        # second criterion: larger bias among edges towards the best ratio
        best_val, arg = _segment_argmax(value, s, starts)
        change |= best_val > x + tol
        if not change.any():
            return policy, eta, pointer, succ
        policy = np.where(change, arg, policy)


def _exact_howard(s, d, w, t, k, starts, nodes, order, m, hint):
    """Exact policy iteration, started from the policy that float arithmetic finds optimal.

    Fractions cost microseconds per operation, so the iterations run in floats and the float
    optimum is then *certified* in integer arithmetic: with the weights scaled to integers by
    the least common denominator, each node's cycle ratio is a reduced fraction ``num / den``
    and its bias times ``den`` an integer, so Howard's two optimality criteria (no edge leads
    to a larger ratio; none gives a larger bias towards an equal ratio) are integer
    comparisons. They prove the float policy optimal, which it nearly always is; only when
    they do not (ratios closer than the float tolerance) do Fraction iterations continue from
    it. The result is exact either way.
    """
    if w.dtype == object:
        values = w.tolist()
        scale = math.lcm(*{v.denominator for v in values if type(v) is not int})
        scaled = values if scale == 1 and all(type(v) is int for v in values) else \
            [v * scale if type(v) is int else v.numerator * (scale // v.denominator) for v in values]
    else:
        scale, scaled = 1, w
    try:
        approx = np.asarray(scaled, dtype=float) / scale
        fits = bool(np.all(np.isfinite(approx)))
    except OverflowError:  # an int beyond float range
        fits = False
    if fits:
        policy = _initial_policy(s, d, approx, t, k, starts, False, order, m, hint)
        policy, *_ = _howard(policy, s, d, approx, t, k, starts, False, nodes)
        certified = _certify(policy, s, d, scaled, t, k, nodes, scale)
        if certified is not None:
            return (policy, *certified)
    else:
        policy = _initial_policy(s, d, w, t, k, starts, True, order, m, hint)
    return _howard(policy, s, d, w, t, k, starts, True, nodes)


def _certify(policy, s, d, scaled, t, k, nodes, scale):
    r"""(eta, pointer, succ) of ``policy`` in exact arithmetic when no edge improves it, else None.

    ``scaled`` are the weights times ``scale``, as Python ints. Every bias and cross product
    is bounded by :math:`3 \sum |w| \sum t`; below :math:`2^{62}` they are computed in int64,
    above it in Python integers (object arrays).
    """
    magnitude = np.abs(scaled).sum() if isinstance(scaled, np.ndarray) else sum(map(abs, scaled))
    total = (int(magnitude) + 1) * (int(t.sum()) + 1)
    dtype = np.int64 if 4 * total < 2**62 else object
    weights = np.asarray(scaled).astype(dtype) if isinstance(scaled, np.ndarray) \
        else np.array(scaled, dtype=dtype)
    transit = t.astype(dtype)
    succ, pointer, acc_w, acc_t, roots, cycle_w, cycle_t = _policy_forest(
        policy, d, weights, transit, k, nodes)
    if dtype is object:
        divisor = np.array([math.gcd(int(a), int(b)) for a, b in zip(cycle_w, cycle_t)], dtype=object)
    else:
        divisor = np.gcd(cycle_w, cycle_t)
    num_root = np.zeros(k, dtype=dtype)
    den_root = np.ones(k, dtype=dtype)
    num_root[roots] = cycle_w // divisor
    den_root[roots] = cycle_t // divisor
    num, den = num_root[pointer], den_root[pointer]
    bias = den * acc_w - num * acc_t  # den x (the bias); exact
    # first criterion: an edge towards a larger ratio
    if np.any(num[d] * den[s] > num[s] * den[d]):
        return None
    # second criterion: among edges towards an equal ratio (same reduced fraction), a larger bias
    same = (num[d] == num[s]) & (den[d] == den[s])
    if np.any(den[s][same] * weights[same] - num[s][same] * transit[same] + bias[d][same]
              > bias[s][same]):
        return None
    eta_root = np.empty(k, dtype=object)
    eta_root[roots] = [Fraction(int(a), int(b) * scale) for a, b in zip(num_root[roots], den_root[roots])]
    return eta_root[pointer], pointer, succ


def _initial_policy(s, d, w, t, k, starts, exact, order, m, hint):
    """A policy whose cycle is the hinted one, and every node that reaches it leads there.

    Howard's iterations spread a better cycle ratio one policy edge at a time, so on deep
    graphs a poor start costs many iterations. Dataflow graphs usually have an obvious
    candidate (a self-loop of the slowest actor, the busiest processor's static order): its
    nodes take its edges, and every other node of its component takes the first edge of a
    shortest path to it (breadth-first search on the reversed graph). Remaining nodes take
    their edge of largest ``w - lam0 * t`` (few tokens first), ``lam0`` the hint's ratio.
    """
    position = np.full(m, -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    if hint is not None:
        cycle = position[np.asarray(hint, dtype=np.int64)]
        if len(cycle) == 0 or np.any(cycle < 0) or np.any(d[cycle] != np.roll(s[cycle], -1)):
            cycle = None
    else:
        cycle = None
    if cycle is None:
        loops = np.flatnonzero((s == d) & (t > 0))
        if len(loops):
            cycle = loops[[int(np.argmax(w[loops] / t[loops]))]]
    if cycle is not None and t[cycle].sum() > 0:
        lam0 = w[cycle].sum() / t[cycle].sum()
    else:
        cycle, lam0 = None, (max(w) if exact else float(np.max(w)))
    _, policy = _segment_argmax(w - lam0 * t, s, starts)
    if cycle is None:
        return policy
    on = s[cycle]
    policy[on] = cycle
    # reversed graph plus a super-source k pointing at the cycle's nodes
    rs = np.concatenate([d, np.full(len(on), k)])
    rd = np.concatenate([s, on])
    pred = bfs_predecessors(k + 1, rs, rd, k)[:k]
    reached = np.flatnonzero((pred >= 0) & (pred != k))
    key = s * k + d
    sorted_edges = np.argsort(key, kind="stable")
    hit = np.searchsorted(key[sorted_edges], reached * k + pred[reached])
    policy[reached] = sorted_edges[hit]
    return policy


def _policy_forest(policy, d, w, t, k, nodes):
    """The policy's successor graph walked to its cycles.

    Returns (succ, pointer, acc_w, acc_t, roots, cycle_w, cycle_t): each node's policy
    successor; the root its path leads to (a root is the least node of its policy cycle, so a
    cycle kept by the next policy keeps its root and biases stay comparable between
    iterations, which termination needs); the weight and transit of the path to it; the roots
    and their cycles' total weight and transit. Pure numpy: about 2 log2(k) gathers to find the
    cycles (nodes on them are the image of succ^(2^L) for 2^L >= k) and log2(path length) to
    walk the paths.

    Raises
    ------
    DeadlockError
        A policy cycle has total transit 0.
    """
    succ = d[policy]
    pw, pt = w[policy], t[policy]
    ids = np.arange(k)
    image = succ
    steps = max(1, int(k - 1).bit_length())
    for _ in range(steps):
        image = image[image]
    cyclic = np.zeros(k, dtype=bool)
    cyclic[image] = True
    least = np.where(cyclic, ids, k)
    hop = succ
    for _ in range(steps):
        least = np.minimum(least, least[hop])
        hop = hop[hop]
    is_root = cyclic & (least == ids)
    pointer = np.where(is_root, ids, succ)
    acc_w = np.where(is_root, 0, pw)
    acc_t = np.where(is_root, 0, pt)
    if w.dtype == object:
        acc_w = acc_w.astype(object)
    while True:
        jump = pointer[pointer]
        if np.array_equal(jump, pointer):
            break
        acc_w += acc_w[pointer]
        acc_t += acc_t[pointer]
        pointer = jump
    roots = np.flatnonzero(is_root)
    cycle_w = acc_w[succ[roots]] + pw[roots]
    cycle_t = acc_t[succ[roots]] + pt[roots]
    if np.any(cycle_t == 0):
        r = int(roots[np.flatnonzero(cycle_t == 0)[0]])
        bad = [r]
        v = int(succ[r])
        while v != r:
            bad.append(v)
            v = int(succ[v])
        raise _token_free(nodes[bad])
    return succ, pointer, acc_w, acc_t, roots, cycle_w, cycle_t


def _evaluate(policy, d, w, t, k, exact, nodes):
    """Value determination: cycle ratio ``eta`` reached by each node and its bias ``x``."""
    succ, pointer, acc_w, acc_t, roots, cycle_w, cycle_t = _policy_forest(policy, d, w, t, k, nodes)
    eta_root = np.empty(k, dtype=object if exact else float)
    if exact:
        eta_root[roots] = [Fraction(a) / int(b) for a, b in zip(cycle_w, cycle_t)]
    else:
        eta_root[roots] = cycle_w / cycle_t
    eta = eta_root[pointer]
    x = acc_w - eta * acc_t
    return eta, x, pointer, succ


@public
def max_cycle_mean(matrix: ArrayLike) -> MaxCycle:
    """Maximum cycle mean (max-plus eigenvalue of the critical class) of a square matrix.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Max-plus matrix; ``-inf`` marks no edge. A float array is analysed in floats, an
        object array of ints/Fractions (and ``-inf``) exactly.

    Returns
    -------
    MaxCycle
        ``value`` is ``-inf`` when the precedence graph is acyclic; ``nodes`` lists a critical
        cycle in the direction of influence (entry ``A[i, j]`` is the edge ``j -> i``).

    Raises
    ------
    InvalidGraphError
        The matrix is not square or has a NaN or ``+inf`` entry.

    Examples
    --------
    >>> import numpy as np
    >>> from fractions import Fraction
    >>> max_cycle_mean(np.array([[-np.inf, 1], [2, -np.inf]], dtype=object)).value
    Fraction(3, 2)
    """
    a = np.asarray(matrix)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InvalidGraphError(f"max_cycle_mean: matrix must be square, got shape {a.shape}")
    exact = a.dtype == object
    if not exact and not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InvalidGraphError(f"max_cycle_mean: matrix must hold numbers, got dtype {a.dtype}")
    # a float copy, its finite mask and the edge arrays of the finite entries
    check_memory(a.size * 33, f"max_cycle_mean: a {a.shape[0]:,} × {a.shape[0]:,} matrix")
    values = a.astype(float) if not exact else a
    finite_mask = np.asarray(a != NEG_INF, dtype=bool) if exact else np.isfinite(values)
    if not exact and np.any(np.isnan(values) | (values == np.inf)):
        raise InvalidGraphError("max_cycle_mean: matrix has a NaN or +inf entry")
    rows, cols = np.nonzero(finite_mask)
    result = max_cycle_ratio(a.shape[0], cols, rows, values[rows, cols],
                             np.ones(len(rows), dtype=np.int64), exact=exact)
    return MaxCycle(result.value, result.nodes, ())
