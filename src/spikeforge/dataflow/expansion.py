r"""The firings of one iteration of an SDF graph and the token dependencies between them.

A consistent SDF graph with repetition vector :math:`q` is equivalent, for its self-timed
throughput, to the homogeneous graph of its firings (Lee & Messerschmitt 1987; Sriram &
Bhattacharyya, *Embedded Multiprocessors*, ch. 3): one node per firing :math:`(A, i)`,
:math:`0 \le i < q_A`, and an edge from the firing that produces a token to the firing that
consumes it, carrying as many initial tokens as iterations lie between them. For a channel
:math:`A \to B` with production :math:`p`, consumption :math:`c` and :math:`d` initial tokens,
firing :math:`j` of :math:`B` consumes the tokens at stream positions
:math:`jc \ldots (j+1)c-1`; position :math:`s` holds the token of producer firing
:math:`f = \lfloor (s - d) / p \rfloor` counted from this iteration's first firing of
:math:`A`, i.e. firing :math:`f \bmod q_A` of iteration :math:`\lfloor f / q_A \rfloor \le 0`.
The period of the graph is the maximum cycle ratio of this expansion (edge weight: the
producing firing's execution time; transit: the iteration distance), the same value as the
maximum cycle mean of the max-plus matrix a symbolic execution builds — but the expansion is
sparse: :math:`\sum_A q_A` nodes and about :math:`\sum_{A \to B} (q_A + q_B)` edges, built with
array operations, where the matrix is dense over every initial token.

Static orders chain their firings (the :math:`k`-th occurrence of an actor in a processor's
order over one iteration is its firing :math:`k`), the last back to the first with one token;
without auto-concurrency each actor's firings are chained the same way.

Written by hand: no library builds SDF expansions (SDF3's is C++ inside its tool, networkx and
scipy know no dataflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikeforge.dataflow.consistency import order_passes
from spikeforge.ir.dataflow import DataflowGraph
from spikeforge.resources import check_memory

#: Bytes per expansion edge while it is built: five int64 arrays and their temporaries.
BYTES_PER_EDGE = 96


@dataclass(frozen=True, eq=False)
class Expansion:
    """The firings of one iteration and their dependencies (see the module docstring).

    Attributes
    ----------
    first : int64 array (actors,)
        Index of each actor's firing 0; firing ``i`` of actor ``a`` is node ``first[a] + i``.
    actor : int64 array (firings,)
        The actor of each firing.
    src, dst, transit : int64 arrays (edges,)
        Edges between firings and the iterations between them.
    label : int64 array (edges,)
        The channel of each edge (``0 .. channels-1``); ``-1 - a`` for actor ``a``'s implicit
        self-edge; ``-1 - actors - p`` for the static order of the ``p``-th processor.
    """

    first: np.ndarray
    actor: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    transit: np.ndarray
    label: np.ndarray

    @property
    def firings(self) -> int:
        return len(self.actor)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For intervals ``[lo[i], hi[i]]``: the interval of each element and the element itself.

    >>> _ranges(np.array([0, 5]), np.array([1, 7]))
    (array([0, 0, 1, 1, 1]), array([0, 1, 5, 6, 7]))
    """
    counts = hi - lo + 1
    owner = np.repeat(np.arange(len(lo)), counts)
    starts = np.cumsum(counts) - counts
    return owner, lo[owner] + np.arange(int(counts.sum())) - starts[owner]


def _cycle(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Firings ``nodes`` in sequence, the last back to the first with one token."""
    transit = np.zeros(len(nodes), dtype=np.int64)
    transit[-1] = 1
    return nodes, np.roll(nodes, -1), transit


def channel_edges(first: np.ndarray, reps: np.ndarray, src_actor: np.ndarray, dst_actor: np.ndarray,
                  production: np.ndarray, consumption: np.ndarray, tokens: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The firing dependencies of some channels: (src, dst, transit, channel) per edge.

    ``first`` and ``reps`` are per actor (:attr:`Expansion.first`, the repetition vector); the
    other arrays per channel; ``channel`` indexes them. Vectorised over all channels at once, so
    a buffer search can re-expand just its capacity edges for each storage distribution.
    """
    channel, j = _ranges(np.zeros(len(src_actor), dtype=np.int64), reps[dst_actor] - 1)
    c, d, p = consumption[channel], tokens[channel], production[channel]
    lo = (j * c - d) // p
    hi = ((j + 1) * c - d - 1) // p
    read, f = _ranges(lo, hi)
    edge_channel = channel[read]
    qa = reps[src_actor[edge_channel]]
    return (first[src_actor[edge_channel]] + f % qa, first[dst_actor[edge_channel]] + j[read],
            -(f // qa), edge_channel)


def expand(graph: DataflowGraph, q: dict[str, int], *, auto_concurrency: bool = True) -> Expansion:
    """The expansion of ``graph`` over one iteration (``q``: its repetition vector).

    Raises
    ------
    ResourceError
        The expansion would not fit in memory (checked before it is built).
    InvalidGraphError
        A static order does not fit the repetition vector.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 1), Actor("B", 1)), (Channel("ab", "A", "B", 2, 1, 1),))
    >>> e = expand(g, {"A": 1, "B": 2})
    >>> e.actor.tolist(), e.src.tolist(), e.dst.tolist(), e.transit.tolist()
    ([0, 1, 1], [0, 0], [1, 2], [1, 0])
    """
    arr = graph.arrays
    n = len(graph.actors)
    reps = np.array([q[a.name] for a in graph.actors], dtype=np.int64)
    first = np.cumsum(reps) - reps
    firings = int(reps.sum())
    src_a, dst_a = arr.src, arr.dst
    p, c, d = arr.production, arr.consumption, arr.tokens
    q_dst = reps[dst_a]
    # Firing j of the consumer reads producer firings floor((j c - d) / p) .. floor(((j+1) c - d - 1) / p):
    # over one iteration at most q_dst + q_dst c / p + 1 of them per channel.
    bound = int((q_dst + (q_dst * c) // p + 2).sum()) + (0 if auto_concurrency else firings) \
        + sum(len(o) for o in graph.static_orders.values()) * 2
    check_memory(bound * BYTES_PER_EDGE + firings * 16,
                 f"expanding graph {graph.name!r}: {firings:,} firings and up to {bound:,} dependencies")
    f_src, f_dst, f_transit, edge_channel = channel_edges(first, reps, src_a, dst_a, p, c, d)
    src, dst, transit, label = [f_src], [f_dst], [f_transit], [edge_channel]
    cycles = [] if auto_concurrency else \
        [(np.arange(first[a], first[a] + reps[a], dtype=np.int64), -1 - a) for a in range(n)]
    idx = graph.actor_index
    for i, (proc, passes) in enumerate(order_passes(graph, q).items()):
        occurrence = dict.fromkeys(graph.static_orders[proc], 0)
        nodes = []
        for name in graph.static_orders[proc] * passes:
            nodes.append(first[idx[name]] + occurrence[name])
            occurrence[name] += 1
        cycles.append((np.asarray(nodes, dtype=np.int64), -1 - n - i))
    for nodes, code in cycles:
        s, t, k = _cycle(nodes)
        src.append(s), dst.append(t), transit.append(k), label.append(np.full(len(nodes), code))
    return Expansion(first, np.repeat(np.arange(n, dtype=np.int64), reps), np.concatenate(src),
                     np.concatenate(dst), np.concatenate(transit), np.concatenate(label))
