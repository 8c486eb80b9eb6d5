r"""Traffic, utilisation and energy of a placement.

Spikes travel along dimension-order (X then Y) routes on the global core grid
(:mod:`spikeforge.hardware.geometry`); every (source cluster, destination cluster) pair is one
unicast stream of the partition's traffic. Counts are **per inference** (per timestep × T).
Partial sums of split neurons travel like spikes and are reported separately.

Energy (an estimate, :func:`spikeforge.hardware.estimate_energy`): spikes and synaptic
operations from the profile; neuron updates = (neurons + partial-sum columns) × T; hops and
inter-chip transfers from the routes; static power over the inference time, which is
``T × timestep_ns`` on globally clocked chips, else T × the slowest core's work per timestep,

.. math:: t_{step} = \max_{core} \big(n_{xbar} t_{xbar} + s_{core} t_{synop} + n_{neur} t_{upd}\big).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from spikeforge.api import public
from spikeforge.errors import InvalidDataError
from spikeforge.hardware.energy import EnergyBreakdown, estimate_energy
from spikeforge.hardware.geometry import hop_counts
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.partition import Partition
from spikeforge.ir.placement import Placement

if TYPE_CHECKING:
    from spikeforge.sim.simulator import Profile

__all__ = ["InterchipBound", "MappingEnergy", "MappingReport", "interchip_bound", "link_loads", "mapping_energy",
           "traffic_summary"]


@dataclass(frozen=True)
class MappingEnergy:
    """Event counts per inference, resources in use and the energy estimate of clusters on cores."""

    spikes: float
    synops: float
    neuron_updates: float
    hops: float                # on-chip router hops of all tokens
    interchip_hops: float      # token transfers over inter-chip links
    cores_used: int
    chips_used: int
    energy: EnergyBreakdown


def _current_updates(profile: Profile | None) -> int:
    """Synaptic-current updates per timestep: a CubaLIF (or CubaLI) neuron updates its current as well as its
    membrane every step (i' = α i + I), a second state update. Known from the profile only."""
    if profile is None:
        return 0
    return sum(layer.neurons for layer in profile.layers if layer.kind in ("CubaLIF", "CubaLI"))


def _synops(p: Partition, profile: Profile | None) -> float:
    """Synaptic operations per inference: the profile's exact count (with analog input MACs), else
    the partition's estimate."""
    if profile is not None:
        return float(profile.synops_per_sample + profile.input_macs_per_sample)
    return float(p.cluster_synops.sum()) * p.timesteps


@public
def mapping_energy(partition: Partition, hw: Hardware, cluster_core: np.ndarray, *, profile: Profile | None,
                   time_s: float, timesteps: int | None = None,
                   streams: tuple[sp.spmatrix, ...] | None = None) -> MappingEnergy:
    """Events, resources and energy per inference of ``partition`` with cluster *i* on global core
    ``cluster_core[i]`` of ``hw``: the one energy model of ``map`` (:func:`traffic_summary`) and
    ``compile`` (:func:`spikeforge.pipeline.analyse_pass`).

    Spikes and synaptic operations come from the profile (see :func:`traffic_summary`), neuron
    updates are (neurons + partial-sum columns + CubaLIF synaptic currents) × T, tokens are routed X then Y
    (:func:`~spikeforge.hardware.hop_counts`), and static power is charged over ``time_s``.

    Parameters
    ----------
    partition : Partition
    hw : Hardware
    cluster_core : array of int
        Global core of each cluster.
    profile : Profile or None
        Exact synaptic operations; without it they are estimated from the partition.
    time_s : float
        Duration of one inference.
    timesteps : int, optional
        T per inference (default: the partition's).
    streams : tuple of sparse matrices, optional
        The cluster × cluster token streams routed, per timestep: by default spikes and partial
        sums as two streams (``map`` reports them apart); ``compile`` routes their sum, one
        stream per cluster pair as its graph's channels carry them. Hop totals are summed
        stream by stream.

    Returns
    -------
    MappingEnergy

    Raises
    ------
    InvalidDataError
        Inconsistent counts (from :func:`~spikeforge.hardware.estimate_energy`).
    """
    p = partition
    T = p.timesteps if timesteps is None else timesteps
    core = np.asarray(cluster_core, dtype=np.int64)
    hops = interchip = 0.0
    for m in (p.traffic, p.partial_traffic) if streams is None else streams:
        m = m.tocoo()
        noc, inter = hop_counts(hw, core[m.row], core[m.col])
        hops += (m.data * noc).sum()
        interchip += (m.data * inter).sum()
    spikes = float(p.cluster_spikes.sum()) * T
    synops = _synops(p, profile)
    updates = float(p.cluster_columns.sum() + _current_updates(profile)) * T
    hops, interchip = float(hops) * T, float(interchip) * T
    cores_used = len(np.unique(core))
    chips_used = len(np.unique(core // hw.cores_per_chip))
    energy = estimate_energy(hw, spikes=spikes, synops=synops, neuron_updates=updates, hops=hops,
                             interchip_transfers=interchip, time_s=time_s, cores_used=cores_used,
                             chips_used=chips_used)
    return MappingEnergy(spikes, synops, updates, hops, interchip, cores_used, chips_used, energy)


@dataclass(frozen=True)
class MappingReport:
    """Figures of one placement, per inference unless named otherwise."""

    network: str
    hardware: str
    partitioner: str
    placer: str
    timesteps: int
    crossbars_used: int
    cores_used: int
    chips_used: int
    crossbar_column_utilisation: float
    crossbar_row_utilisation: float
    core_utilisation: float
    spikes: float
    spikes_inside_cores: float
    spikes_between_cores: float
    spikes_between_chips: float
    partial_sums: float
    spike_hops: float
    interchip_hops: float
    max_link_load: float
    max_link: str
    time_s: float
    energy: EnergyBreakdown
    extra: dict[str, Any] = field(default_factory=dict)
    partial_sums_between_chips: float = 0.0
    interchip_traffic_bound: float = 0.0

    def rows(self) -> list[tuple[str, str]]:
        """``(figure, value)`` rows for a table."""
        return [
            ("crossbars used", (f"{self.crossbars_used:,} (columns {self.crossbar_column_utilisation:.0%}, "
                                f"rows {self.crossbar_row_utilisation:.0%})")),
            ("cores used", f"{self.cores_used:,} ({self.core_utilisation:.0%} of the chips in use)"),
            ("chips used", f"{self.chips_used:,}"),
            ("spikes / inference", f"{self.spikes:,.0f}"),
            ("  delivered inside cores", f"{self.spikes_inside_cores:,.0f}"),
            ("  delivered between cores (same chip)", f"{self.spikes_between_cores:,.0f}"),
            ("  delivered between chips", f"{self.spikes_between_chips:,.0f}"),
            ("partial sums / inference", f"{self.partial_sums:,.0f}"),
            ("  sent between chips", f"{self.partial_sums_between_chips:,.0f}"),
            ("inter-chip traffic, least possible", f"{self.interchip_traffic_bound:,.0f} (bound, any placement)"),
            ("spike-hops (NoC + inter-chip)", f"{self.spike_hops:,.0f}"),
            ("inter-chip hops", f"{self.interchip_hops:,.0f}"),
            ("most loaded link", f"{self.max_link_load:,.0f} spikes ({self.max_link})"),
            ("inference time (estimate)", f"{self.time_s * 1e6:,.2f} µs"),
        ] + [(f"energy: {k}", v) for k, v in self.energy.rows()]

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("energy", "extra")}
        e = self.energy
        d["energy_j"] = {"spikes": e.spikes_j, "synops": e.synops_j, "neuron_updates": e.neuron_updates_j,
                         "hops": e.hops_j, "interchip": e.interchip_j, "static": e.static_j, "total": e.total_j}
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class InterchipBound:
    """Least inter-chip traffic per inference that any placement of a partition can reach (lower bounds)."""

    spikes: float
    partial_sums: float

    @property
    def total(self) -> float:
        return self.spikes + self.partial_sums


def _all_but_largest(m: sp.csr_matrix, keep: int) -> float:
    """Σ over the rows of ``m``: the row's entries except its ``keep`` largest."""
    m = sp.csr_matrix(m)
    row = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((-m.data, row))  # row by row, largest first
    rank = np.arange(m.nnz) - m.indptr[row[order]]
    return float(m.data[order][rank >= keep].sum())


@public
def interchip_bound(partition: Partition, crossbars_per_chip: int) -> InterchipBound:
    r"""Lower bounds on the spikes and partial sums that *any* placement of ``partition`` sends
    between chips of ``crossbars_per_chip`` crossbars each, per inference.

    A chip holds at most :math:`K` = ``crossbars_per_chip`` clusters, so of the streams leaving
    one cluster at most :math:`K - 1` stay on its chip: at least all but its :math:`K - 1`
    largest cross. The same holds for the streams entering a cluster; the spike bound is the
    larger of the two sums. Partial sums: a split group of :math:`s` crossbars (one root,
    :math:`s - 1` senders of equal volume) keeps at most :math:`K` on its root's chip, so at
    least :math:`\max(0, s - K)` senders are off it. Spike and partial-sum streams are disjoint,
    so the two bounds add. Written here because no placement library reports such a bound.

    Parameters
    ----------
    partition : Partition
    crossbars_per_chip : int
        ``Hardware.crossbars_per_chip``.

    Returns
    -------
    InterchipBound

    Raises
    ------
    InvalidDataError
        ``crossbars_per_chip`` < 1.

    Examples
    --------
    One cluster streaming 1, 2 and 3 spikes per timestep to three others, chips of 2 crossbars:
    at most the largest stream stays on chip.

    >>> import scipy.sparse as sp
    >>> from spikeforge.ir.partition import Partition
    >>> t = sp.csr_matrix(([1.0, 2.0, 3.0], ([0, 0, 0], [1, 2, 3])), shape=(4, 4))
    >>> part = Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=2,
    ...     layers=("a",), layer_shapes=((4, 1, 1),), piece_cluster=[0, 1, 2, 3], piece_layer=[0] * 4,
    ...     piece_part=[0] * 4, piece_box=[[i, i + 1, 0, 1, 0, 1] for i in range(4)],
    ...     cluster_rows=[1] * 4, cluster_synapses=[1] * 4, cluster_memory_bits=[8] * 4,
    ...     cluster_spikes=[6, 0, 0, 0], cluster_synops=[0] * 4, traffic=t,
    ...     partial_traffic=sp.csr_matrix((4, 4)), limits={})
    >>> interchip_bound(part, crossbars_per_chip=2)
    InterchipBound(spikes=6.0, partial_sums=0.0)
    """
    k = int(crossbars_per_chip)
    if k < 1:
        raise InvalidDataError(f"crossbars_per_chip={crossbars_per_chip}: must be ≥ 1")
    spikes = sp.csr_matrix(partition.traffic, dtype=np.float64, copy=True)
    spikes.setdiag(0)  # a cluster's spikes to itself never leave its crossbar
    spikes.eliminate_zeros()
    spike_bound = max(_all_but_largest(spikes, k - 1), _all_but_largest(spikes.T.tocsr(), k - 1))
    partial_bound = 0.0
    q = partition.partial_traffic.tocoo()
    if q.nnz:
        _, group = connected_components(partition.partial_traffic + partition.partial_traffic.T, directed=False)
        size = np.bincount(group)
        volume = np.bincount(group[q.row], weights=q.data, minlength=len(size))
        partial_bound = float((volume / np.maximum(size - 1, 1) * np.maximum(0, size - k)).sum())
    T = partition.timesteps
    return InterchipBound(spike_bound * T, partial_bound * T)


@public
def link_loads(pl: Placement, src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[float, str]:
    """Busiest directed link under X-then-Y routing on the global core grid: (load, description).

    Wrap-around links of torus topologies are not used (routes stay on the mesh).
    """
    hw = pl.hardware
    if len(w) == 0:
        return 0.0, "none"
    nx, ny, bx = hw.chip.mesh_x, hw.chip.mesh_y, hw.board.mesh_x
    by = hw.board.mesh_y
    GX, GY = nx * bx, ny * by

    def gxy(core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chip, local = np.divmod(core, hw.cores_per_chip)
        return (chip % bx) * nx + local % nx, (chip // bx) * ny + local // nx

    x1, y1 = gxy(pl.cluster_core[src])
    x2, y2 = gxy(pl.cluster_core[dst])
    best, where = 0.0, "none"
    for name, a, b, fixed, n_along, n_fixed, horiz in (
            ("east", x1, x2, y1, GX, GY, True), ("west", x2, x1, y1, GX, GY, True),
            ("south", y1, y2, x2, GY, GX, False), ("north", y2, y1, x2, GY, GX, False)):
        sel = a < b
        if not sel.any():
            continue
        d = np.zeros((n_fixed, n_along + 1))
        np.add.at(d, (fixed[sel], a[sel]), w[sel])
        np.add.at(d, (fixed[sel], b[sel]), -w[sel])
        load = np.cumsum(d, axis=1)[:, :-1]
        i, j = np.unravel_index(int(np.argmax(load)), load.shape)
        if load[i, j] > best:
            best = float(load[i, j])
            per = nx if horiz else ny
            kind = "inter-chip" if (j + 1) % per == 0 else "on-chip"
            pos = (j, i) if horiz else (i, j)
            where = f"{kind} link {name} of global core ({pos[0]}, {pos[1]})"
    return best, where


@public
def traffic_summary(pl: Placement, profile: Profile | None = None) -> MappingReport:
    """Utilisation, traffic by level, hops, busiest link, time and energy of a placement.

    Parameters
    ----------
    pl : Placement
    profile : Profile, optional
        The profile the partition was built from; supplies exact synaptic operations (and
        analog input MACs). Without it, synaptic events are estimated from the partition.

    Returns
    -------
    MappingReport

    Raises
    ------
    InvalidDataError
        Inconsistent counts (from :func:`~spikeforge.hardware.estimate_energy`).
    """
    p, hw = pl.partition, pl.hardware
    T = p.timesteps
    t = p.traffic.tocoo()
    core = pl.cluster_core
    _, inter = hop_counts(hw, core[t.row], core[t.col])
    same_core = core[t.row] == core[t.col]
    same_chip = inter == 0
    q = p.partial_traffic.tocoo()
    _, qinter = hop_counts(hw, core[q.row], core[q.col])
    inside = float(t.data[same_core].sum()) * T
    between_cores = float(t.data[~same_core & same_chip].sum()) * T
    between_chips = float(t.data[~same_chip].sum()) * T
    partial_between_chips = float(q.data[qinter > 0].sum()) * T
    keep = t.row != t.col
    src = np.concatenate([t.row[keep], q.row])
    dst = np.concatenate([t.col[keep], q.col])
    w = np.concatenate([t.data[keep], q.data]) * T
    max_load, where = link_loads(pl, src, dst, w)
    synops = _synops(p, profile)
    tm = hw.timing
    if tm.timestep_ns is not None:
        step_ns = tm.timestep_ns
    else:
        n_core = np.bincount(core, minlength=hw.total_cores)
        cols = np.bincount(core, weights=p.cluster_columns, minlength=hw.total_cores)
        syn_share = p.cluster_synops * (synops / T / max(p.cluster_synops.sum(), 1e-12)) if p.cluster_synops.sum() else p.cluster_synops
        s = np.bincount(core, weights=syn_share, minlength=hw.total_cores)
        step_ns = float((n_core * tm.crossbar_eval_ns + s * tm.synop_ns + cols * tm.neuron_update_ns).max())
    time_s = T * step_ns * 1e-9
    use = mapping_energy(p, hw, core, profile=profile, time_s=time_s)
    cores_used, chips_used = use.cores_used, use.chips_used
    lim = p.limits
    xb = p.n_clusters
    return MappingReport(
        network=p.network, hardware=hw.name, partitioner=p.strategy, placer=pl.strategy, timesteps=T,
        crossbars_used=xb, cores_used=cores_used, chips_used=chips_used,
        crossbar_column_utilisation=float(p.cluster_columns.sum()) / max(1, xb * lim.get("columns", 1)),
        crossbar_row_utilisation=float(p.cluster_rows.sum()) / max(1, xb * lim.get("rows", 1)),
        core_utilisation=cores_used / max(1, chips_used * hw.cores_per_chip),
        spikes=use.spikes, spikes_inside_cores=inside, spikes_between_cores=between_cores,
        spikes_between_chips=between_chips, partial_sums=float(p.partial_traffic.sum()) * T,
        spike_hops=use.hops + use.interchip_hops, interchip_hops=use.interchip_hops, max_link_load=max_load,
        max_link=where, time_s=time_s, energy=use.energy, partial_sums_between_chips=partial_between_chips,
        interchip_traffic_bound=interchip_bound(p, hw.crossbars_per_chip).total)
