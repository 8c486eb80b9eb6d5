"""Placement IR: every cluster of a :class:`~spikeforge.ir.partition.Partition` bound to a crossbar
slot of a core of a chip.

Global core ids follow :func:`~spikeforge.ir.hardware.core_coordinates` (chip-major, row-major
within a chip). A placement is valid when every cluster has a core, no core holds more clusters than
crossbars, more neurons than ``neurons_per_core`` or more synapse memory than it has.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from spikeforge.hardware import load_hardware
>>> from spikeforge.ir.partition import Partition
>>> part = Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
...     layers=("a",), layer_shapes=((4, 1, 1),), piece_cluster=[0, 1], piece_layer=[0, 0],
...     piece_part=[0, 0], piece_box=[[0, 2, 0, 1, 0, 1], [2, 4, 0, 1, 0, 1]],
...     cluster_rows=[1, 1], cluster_synapses=[2, 2], cluster_memory_bits=[16, 16],
...     cluster_spikes=[0, 0], cluster_synops=[0, 0], traffic=sp.csr_matrix((2, 2)),
...     partial_traffic=sp.csr_matrix((2, 2)), limits={})
>>> pl = Placement(part, load_hardware("xbar-mesh"), "fill", cluster_core=[0, 1], cluster_slot=[0, 0])
>>> pl.cores_used, pl.chips_used
(2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeforge.errors import CapacityError, InvalidDataError
from spikeforge.ir.hardware import Hardware, core_coordinates
from spikeforge.ir.partition import Partition

__all__ = ["Placement"]


@dataclass(frozen=True, eq=False)
class Placement:
    """Clusters bound to ``(core, crossbar slot)`` on ``hardware``.

    Raises
    ------
    InvalidDataError
        Arrays of the wrong length, core ids out of range, two clusters in one slot.
    CapacityError
        A core holds more neurons or synapse memory than it has.
    """

    partition: Partition
    hardware: Hardware
    strategy: str
    cluster_core: np.ndarray
    cluster_slot: np.ndarray
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        hw, k = self.hardware, self.partition.n_clusters
        for name in ("cluster_core", "cluster_slot"):
            a = np.array(getattr(self, name), dtype=np.int64, copy=True)
            if a.shape != (k,):
                raise InvalidDataError(f"placement: {name} has shape {a.shape}, expected ({k},)")
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if k == 0:
            return
        if self.cluster_core.min() < 0 or self.cluster_core.max() >= hw.total_cores:
            raise InvalidDataError(f"placement: core id {int(self.cluster_core.max())} outside "
                                   f"[0, {hw.total_cores}) of {hw.name} with {hw.chips} chip(s)")
        if self.cluster_slot.min() < 0 or self.cluster_slot.max() >= hw.core.crossbars_per_core:
            raise InvalidDataError(f"placement: crossbar slot {int(self.cluster_slot.max())} outside "
                                   f"[0, {hw.core.crossbars_per_core})")
        key = self.cluster_core * hw.core.crossbars_per_core + self.cluster_slot
        if len(np.unique(key)) != k:
            raise InvalidDataError("placement: two clusters share one crossbar slot")
        neurons = np.bincount(self.cluster_core, weights=self.partition.cluster_columns, minlength=hw.total_cores)
        if neurons.max() > hw.core.neurons_per_core:
            c = int(np.argmax(neurons))
            raise CapacityError(f"core {c}: {int(neurons[c])} neurons placed, core has {hw.core.neurons_per_core}")
        mem = np.bincount(self.cluster_core, weights=self.partition.cluster_memory_bits, minlength=hw.total_cores)
        if mem.max() > hw.synapse_memory_bits_per_core:
            c = int(np.argmax(mem))
            raise CapacityError(f"core {c}: {int(mem[c])} synapse memory bits placed, core has "
                                f"{hw.synapse_memory_bits_per_core}")

    @property
    def cluster_chip(self) -> np.ndarray:
        return self.cluster_core // self.hardware.cores_per_chip

    @property
    def cores_used(self) -> int:
        return len(np.unique(self.cluster_core))

    @property
    def chips_used(self) -> int:
        return len(np.unique(self.cluster_chip))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description: hardware, strategies, and per cluster its place and pieces."""
        p, hw = self.partition, self.hardware
        xyz = core_coordinates(hw)[self.cluster_core]
        src, dst, tok = p.edges()
        clusters = []
        for i in range(p.n_clusters):
            clusters.append({
                "id": i, "chip": int(xyz[i, 0]), "core": int(self.cluster_core[i]), "x": int(xyz[i, 1]),
                "y": int(xyz[i, 2]), "crossbar": int(self.cluster_slot[i]),
                "columns": int(p.cluster_columns[i]), "rows": int(p.cluster_rows[i]),
                "synapses": int(p.cluster_synapses[i]), "spikes_per_timestep": float(p.cluster_spikes[i]),
                "pieces": p.cluster_pieces(i),
            })
        return {
            "format": "spikeforge-placement/1",
            "network": p.network, "hardware": hw.name, "chips": hw.chips,
            "partitioner": p.strategy, "fan_in": p.fan_in, "placer": self.strategy, "timesteps": p.timesteps,
            "limits": p.limits, "notes": list(p.notes) + list(self.notes),
            "clusters": clusters,
            "edges": [[int(a), int(b), float(t)] for a, b, t in zip(src, dst, tok)],
        }
