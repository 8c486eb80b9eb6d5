r"""Placers: clusters → crossbars → cores → chips, minimising traffic × distance.

Strategies (registry :data:`PLACERS`) decide which chip each cluster goes to:

``fill``
    In partition order, chip after chip.
``round-robin``
    Cluster *i* on chip *i* mod *K* (all chips of the board used).
``greedy-interchip``
    Grow one chip at a time with the unplaced cluster most connected to it (nengo-loihi's
    greedy allocator).
``min-cut``
    k-way partition of the cluster graph into the fewest chips that hold it (KaHyPar on the
    hypergraph of spike nets for up to 3,000 clusters, METIS via pymetis beyond), chips then
    arranged on the board by pairwise swaps of their traffic matrix (as the U-Net-on-Loihi work
    partitions across chips).

Within each chip, clusters are laid on the core mesh along a serpentine in breadth-first order of
the cluster graph, then every strategy but ``fill`` and ``round-robin`` is refined by greedy
swaps of cores (on-chip and between chips), accepting those that lower

.. math:: \sum_{(u,v)} t_{uv}\,\big(h^{noc}_{uv} e_{hop} + h^{chip}_{uv} e_{chip}\big)

(:math:`t` = tokens per timestep, :math:`h` = hop counts, :math:`e` = energies per hop and per
inter-chip transfer of the hardware, 1 and 10 when the preset has none).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from spikeforge.errors import CapacityError, InvalidDataError
from spikeforge.hardware.geometry import hop_counts
from spikeforge.hardware.spec import load_hardware
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.partition import Partition
from spikeforge.ir.placement import Placement

__all__ = ["place", "PLACERS", "DEFAULT_PLACER"]

DEFAULT_PLACER = "min-cut"


def _graph(p: Partition) -> sp.csr_matrix:
    m = (p.traffic + p.partial_traffic)
    m = (m + m.T).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def _chip_capacity(hw: Hardware) -> int:
    return hw.cores_per_chip * hw.core.crossbars_per_core


def _check_capacity(p: Partition, hw: Hardware) -> None:
    need = p.n_clusters
    cap = hw.total_crossbars
    if need > cap:
        per = hw.core.crossbars_per_core
        cores = -(-need // per)
        raise CapacityError(f"{p.network} needs {cores:,} cores ({need:,} crossbars); {hw.chips} chip(s) × "
                            f"{hw.cores_per_chip:,} = {hw.total_cores:,} cores on {hw.name}")


def _fill(p: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
    return np.arange(p.n_clusters) // _chip_capacity(hw)


def _round_robin(p: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
    return np.arange(p.n_clusters) % hw.chips


def _greedy_interchip(p: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
    g = _graph(p)
    n, cap = p.n_clusters, _chip_capacity(hw)
    chip = np.full(n, -1, np.int64)
    score = np.zeros(n)
    unplaced = n
    c = 0
    order = iter(range(n))
    while unplaced:
        heap: list[tuple[float, int]] = []
        score[:] = 0.0
        used = 0
        while used < cap and unplaced:
            u = -1
            while heap:
                s, v = heapq.heappop(heap)
                if chip[v] < 0 and -s == score[v]:
                    u = v
                    break
            if u < 0:
                u = next(v for v in order if chip[v] < 0)
            chip[u] = c
            used += 1
            unplaced -= 1
            nb = g.indices[g.indptr[u]:g.indptr[u + 1]]
            w = g.data[g.indptr[u]:g.indptr[u + 1]]
            free = chip[nb] < 0
            score[nb[free]] += w[free]
            for v, sv in zip(nb[free], score[nb[free]]):
                heapq.heappush(heap, (-sv, int(v)))
        c += 1
        order = iter(range(n))
    return chip


def _min_cut(p: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
    from spikeforge.mapping.partition import hypergraph_partition

    n, cap = p.n_clusters, _chip_capacity(hw)
    if k <= 1:
        return np.zeros(n, np.int64)
    while k < hw.chips and cap / -(-n // k) - 1 < 0.03:
        k += 1
    eps = max(0.0, min(0.5, cap / -(-n // k) - 1))
    t = (p.traffic + p.partial_traffic).tocsr()
    if n <= 3000:
        nets, weights = [], []
        scale = 1000.0 / max(float(t.data.max(initial=0.0)), 1e-12)
        for u in range(n):
            nb = t.indices[t.indptr[u]:t.indptr[u + 1]]
            nb = nb[nb != u]
            if len(nb):
                nets.append(np.concatenate([[u], nb]))
                weights.append(1 + int(round(float(t.data[t.indptr[u]:t.indptr[u + 1]].max()) * scale)))
        chip = hypergraph_partition(n, nets, np.asarray(weights, np.int64), np.ones(n, np.int64), k, eps, seed=seed)
    else:
        import pymetis

        g = _graph(p)
        w = np.maximum(1, np.round(g.data * 1e4 / max(float(g.data.max(initial=0.0)), 1e-12))).astype(np.int64)
        ub = 1.0 + eps
        opts = pymetis.Options(seed=seed, ufactor=int(max(1, (ub - 1) * 1000)))
        _, parts = pymetis.part_graph(k, xadj=g.indptr.astype(np.int64), adjncy=g.indices.astype(np.int64),
                                      eweights=w, options=opts)
        chip = np.asarray(parts, np.int64)
    return _repair(chip, _graph(p), cap, k)


def _repair(chip: np.ndarray, g: sp.csr_matrix, cap: int, k: int) -> np.ndarray:
    """Move clusters out of over-full chips, least-connected first, to the chips they talk to most."""
    chip = chip.copy()
    counts = np.bincount(chip, minlength=k)
    for c in np.flatnonzero(counts > cap):
        members = np.flatnonzero(chip == c)
        inside = np.array([g.data[g.indptr[u]:g.indptr[u + 1]][chip[g.indices[g.indptr[u]:g.indptr[u + 1]]] == c].sum()
                           for u in members])
        for u in members[np.argsort(inside)][: counts[c] - cap]:
            nb = g.indices[g.indptr[u]:g.indptr[u + 1]]
            w = np.bincount(chip[nb], weights=g.data[g.indptr[u]:g.indptr[u + 1]], minlength=k)
            w[counts >= cap] = -1
            w[c] = -1
            dest = int(np.argmax(w)) if w.max() >= 0 else int(np.argmin(counts))
            chip[u] = dest
            counts[c] -= 1
            counts[dest] += 1
    return chip


PLACERS: dict[str, Callable[[Partition, Hardware, int, int], np.ndarray]] = {
    "fill": _fill,
    "round-robin": _round_robin,
    "greedy-interchip": _greedy_interchip,
    "min-cut": _min_cut,
}
_REFINED = {"greedy-interchip", "min-cut"}


def _weights(hw: Hardware) -> tuple[float, float]:
    e = hw.energy
    if e.per_hop_pj == 0 and e.per_interchip_transfer_pj == 0:
        return 1.0, 10.0
    return float(e.per_hop_pj), float(e.per_interchip_transfer_pj)


def _arrange_chips(chip: np.ndarray, g: sp.csr_matrix, hw: Hardware) -> np.ndarray:
    """Map chip blocks onto board slots, swapping pairs while the board traffic × distance drops."""
    k = int(chip.max()) + 1
    if k <= 2:
        return chip
    coo = g.tocoo()
    m = sp.csr_matrix((coo.data, (chip[coo.row], chip[coo.col])), shape=(k, k)).toarray()
    np.fill_diagonal(m, 0)
    slots = np.arange(k)
    bx = hw.board.mesh_x
    pos = np.stack([slots % bx, slots // bx], 1)
    dist = np.abs(pos[:, None, :] - pos[None, :, :]).sum(-1)
    perm = np.arange(k)  # block -> slot

    def cost(pm: np.ndarray) -> float:
        return float((m * dist[pm][:, pm]).sum())

    best = cost(perm)
    improved = True
    while improved:
        improved = False
        for a in range(k):
            for b in range(a + 1, k):
                perm[a], perm[b] = perm[b], perm[a]
                c = cost(perm)
                if c < best - 1e-12:
                    best, improved = c, True
                else:
                    perm[a], perm[b] = perm[b], perm[a]
    return perm[chip]


def _layout_cores(p: Partition, hw: Hardware, chip: np.ndarray, g: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Cores within each chip: BFS order of the cluster graph laid along a serpentine of the mesh."""
    n = p.n_clusters
    per = hw.core.crossbars_per_core
    nx, ny = hw.chip.mesh_x, hw.chip.mesh_y
    serp = np.array([(y * nx + (x if y % 2 == 0 else nx - 1 - x)) for y in range(ny) for x in range(nx)], np.int64)
    core = np.empty(n, np.int64)
    slot = np.empty(n, np.int64)
    cols = p.cluster_columns
    mem = p.cluster_memory_bits
    for c in np.unique(chip):
        members = np.flatnonzero(chip == c)
        if len(members) > 1 and g.nnz:
            sub = g[members][:, members]
            order = sp.csgraph.reverse_cuthill_mckee(sub.tocsr(), symmetric_mode=True)[::-1]
            members = members[order]
        local, s, ncol, nmem = 0, 0, 0, 0
        for u in members:
            if s >= per or ncol + cols[u] > hw.core.neurons_per_core or nmem + mem[u] > hw.synapse_memory_bits_per_core:
                local, s, ncol, nmem = local + 1, 0, 0, 0
            if local >= hw.cores_per_chip:
                raise CapacityError(f"chip {c}: its clusters need more than {hw.cores_per_chip} cores "
                                    f"(neurons or synapse memory per core)")
            core[u] = c * hw.cores_per_chip + serp[local]
            slot[u] = s
            s += 1
            ncol += cols[u]
            nmem += mem[u]
    return core, slot


def _refine(p: Partition, hw: Hardware, core: np.ndarray, slot: np.ndarray, g: sp.csr_matrix, seed: int,
            moves: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy pairwise swaps of whole cores (all their clusters) lowering traffic × hop cost."""
    if g.nnz == 0 or p.n_clusters < 2:
        return core, slot
    e_hop, e_chip = _weights(hw)
    rng = np.random.default_rng(seed)
    core = core.copy()
    occupants: dict[int, list[int]] = {}
    for u, c in enumerate(core):
        occupants.setdefault(int(c), []).append(u)
    coo = g.tocoo()
    prob = coo.data / coo.data.sum()
    picks = rng.choice(len(coo.data), size=moves, p=prob)
    for e in picks:
        u, v = int(coo.row[e]), int(coo.col[e])
        cu, cv = int(core[u]), int(core[v])
        if cu == cv:
            continue
        # candidate: move u's core next to v (a neighbouring core of v on the same chip)
        chipv, local = divmod(cv, hw.cores_per_chip)
        x, y = local % hw.chip.mesh_x, local // hw.chip.mesh_x
        nbrs = [(x + dx, y + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= x + dx < hw.chip.mesh_x and 0 <= y + dy < hw.chip.mesh_y]
        tx, ty = nbrs[rng.integers(len(nbrs))]
        target = chipv * hw.cores_per_chip + ty * hw.chip.mesh_x + tx
        if target == cu:
            continue
        a = occupants.get(cu, [])
        b = occupants.get(target, [])
        moved = np.array(a + b, np.int64)
        before = _cost(g, core, moved, hw, e_hop, e_chip)
        core[a] = target
        core[b] = cu
        after = _cost(g, core, moved, hw, e_hop, e_chip)
        if after < before - 1e-12:
            occupants[target], occupants[cu] = a, b
        else:
            core[a] = cu
            core[b] = target
    return core, slot


def _cost(g: sp.csr_matrix, core: np.ndarray, nodes: np.ndarray, hw: Hardware, e_hop: float, e_chip: float) -> float:
    if len(nodes) == 0:
        return 0.0
    sub = g[nodes].tocoo()
    noc, inter = hop_counts(hw, core[nodes[sub.row]], core[sub.col])
    return float((sub.data * (noc * e_hop + inter * e_chip)).sum())


def place(partition: Partition, hw: Hardware | str, *, strategy: str = DEFAULT_PLACER, chips: int | None = None,
          refine: bool | None = None, seed: int = 0, refine_moves: int | None = None) -> Placement:
    """Bind every cluster of ``partition`` to a crossbar of a core of a chip of ``hw``.

    Parameters
    ----------
    partition : Partition
    hw : Hardware or str
        Target, or a preset name / TOML path.
    strategy : {'min-cut', 'greedy-interchip', 'fill', 'round-robin'}
    chips : int, optional
        Chips on the board (default: as in ``hw``).
    refine : bool, optional
        Swap refinement (default: on for ``min-cut`` and ``greedy-interchip``).
    seed : int
        Random seed of the partitioners and the refinement.

    Returns
    -------
    Placement

    Raises
    ------
    CapacityError
        Not enough crossbars/cores on the chips, with needed vs available.
    InvalidDataError
        Unknown strategy.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from spikeforge.ir.partition import Partition
    >>> part = Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
    ...     layers=("a",), layer_shapes=((4, 1, 1),), piece_cluster=[0, 1], piece_layer=[0, 0],
    ...     piece_part=[0, 0], piece_box=[[0, 2, 0, 1, 0, 1], [2, 4, 0, 1, 0, 1]],
    ...     cluster_rows=[1, 1], cluster_synapses=[2, 2], cluster_memory_bits=[16, 16],
    ...     cluster_spikes=[0, 0], cluster_synops=[0, 0], traffic=sp.csr_matrix((2, 2)),
    ...     partial_traffic=sp.csr_matrix((2, 2)), limits={})
    >>> place(part, "xbar-mesh", strategy="fill").cluster_core.tolist()
    [0, 1]
    """
    hw = load_hardware(hw)
    if chips is not None:
        hw = hw.with_chips(chips)
    if strategy not in PLACERS:
        raise InvalidDataError(f"unknown placer {strategy!r}; known: {', '.join(sorted(PLACERS))}")
    _check_capacity(partition, hw)
    n = partition.n_clusters
    k = max(1, -(-n // _chip_capacity(hw)))
    chip = PLACERS[strategy](partition, hw, k, seed).astype(np.int64)
    g = _graph(partition)
    if strategy in _REFINED:
        chip = _arrange_chips(chip, g, hw)
    core, slot = _layout_cores(partition, hw, chip, g)
    do_refine = strategy in _REFINED if refine is None else refine
    notes = []
    if do_refine:
        moves = refine_moves if refine_moves is not None else min(20000, 20 * n)
        core, slot = _refine(partition, hw, core, slot, g, seed, moves)
        notes.append(f"refined with {moves} swap proposals")
    return Placement(partition, hw, strategy, core, slot, tuple(notes))
