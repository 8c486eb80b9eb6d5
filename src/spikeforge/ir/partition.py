"""Partition IR: an SNN cut into clusters that each fit one crossbar.

A :class:`Partition` is a table of **pieces** grouped into **clusters**. A piece is a box of
neurons of one mapped layer, ``channels [c0, c1) × rows [y0, y1) × columns [x0, x1)`` (vectors
are ``(F, 1, 1)``), with a ``part`` number: part 0 holds the neurons themselves; parts ≥ 1 are
the extra columns that carry partial sums of neurons whose fan-in exceeds the crossbar rows
(``fan_in="split"``: partial sums accumulated into part 0; ``"unroll"``: a chain of
intermediate neurons, part p feeding part p+1, the last part feeding the neuron). The
neuron-level ``greedy`` partitioner uses one-neuron pieces; ``tiles`` uses one piece per
cluster (plus packed small tiles).

Per cluster it records the layer (−1 when mixed), the columns, input rows (axons), synapses
and synapse memory used, the spikes it emits and the synaptic events it receives per
timestep, and cluster-to-cluster **traffic** in spikes per timestep averaged over the profile:
a spike travels once to each destination cluster that needs it (the diagonal holds spikes a
cluster delivers to itself). Partial sums are a separate matrix (``partial_traffic``, values
per timestep). These two matrices are the channels of the dataflow graph built from a
placement.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> p = Partition(network="n", hardware="hw", strategy="tiles", fan_in="split", timesteps=4,
...     layers=("a",), layer_shapes=((4, 1, 1),),
...     piece_cluster=[0, 1], piece_layer=[0, 0], piece_part=[0, 0],
...     piece_box=[[0, 2, 0, 1, 0, 1], [2, 4, 0, 1, 0, 1]],
...     cluster_rows=[3, 3], cluster_synapses=[6, 6], cluster_memory_bits=[48, 48],
...     cluster_spikes=[0.5, 0.25], cluster_synops=[0.0, 0.0],
...     traffic=sp.csr_matrix((2, 2)), partial_traffic=sp.csr_matrix((2, 2)),
...     limits={"rows": 8, "columns": 8, "memory_bits": 512})
>>> p.n_clusters, p.cluster_columns.tolist(), p.cluster_layer.tolist()
(2, [2, 2], [0, 0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikeforge.errors import CapacityError, InvalidDataError

__all__ = ["Partition"]

_INT_FIELDS = ("piece_cluster", "piece_layer", "piece_part", "cluster_rows", "cluster_synapses",
               "cluster_memory_bits")
_FLOAT_FIELDS = ("cluster_spikes", "cluster_synops")


def _ro(a: Any, dtype: type) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Partition:
    """Clusters of an SNN, each fitting one crossbar of ``hardware``; see the module docstring.

    Raises
    ------
    InvalidDataError
        Arrays of inconsistent length, boxes outside their layer, clusters without pieces.
    CapacityError
        A cluster exceeds the ``limits`` (rows, columns or synapse memory of one crossbar).
    """

    network: str
    hardware: str
    strategy: str
    fan_in: str | None
    timesteps: int
    layers: tuple[str, ...]
    layer_shapes: tuple[tuple[int, int, int], ...]
    piece_cluster: np.ndarray
    piece_layer: np.ndarray
    piece_part: np.ndarray
    piece_box: np.ndarray  # (n, 6): c0, c1, y0, y1, x0, x1
    cluster_rows: np.ndarray
    cluster_synapses: np.ndarray
    cluster_memory_bits: np.ndarray
    cluster_spikes: np.ndarray
    cluster_synops: np.ndarray
    traffic: sp.csr_matrix
    partial_traffic: sp.csr_matrix
    limits: dict[str, int]
    notes: tuple[str, ...] = ()
    #: ``(source layer, destination layer, steps)`` for every connection between mapped layers
    #: (indices into ``layers``; an input source is not listed): its delay in timesteps, 0 for a
    #: direct connection, ≥ 1 through Delays (recurrent connections). Empty: all direct.
    layer_delays: tuple[tuple[int, int, int], ...] = ()
    _derived: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            object.__setattr__(self, name, _ro(getattr(self, name), np.int64))
        for name in _FLOAT_FIELDS:
            object.__setattr__(self, name, _ro(getattr(self, name), np.float64))
        box = _ro(np.asarray(self.piece_box, dtype=np.int64).reshape(-1, 6), np.int64)
        object.__setattr__(self, "piece_box", box)
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "layer_shapes", tuple(tuple(int(v) for v in s) for s in self.layer_shapes))
        object.__setattr__(self, "notes", tuple(self.notes))
        delays = tuple(tuple(int(v) for v in d) for d in self.layer_delays)
        if any(len(d) != 3 or not (0 <= d[0] < len(self.layers) and 0 <= d[1] < len(self.layers)) or d[2] < 0
               for d in delays):
            raise InvalidDataError(f"partition: layer_delays {delays[:3]}... must be (source layer, destination "
                                   f"layer, steps ≥ 0) among {len(self.layers)} layers")
        object.__setattr__(self, "layer_delays", delays)
        n = len(self.piece_cluster)
        for name in ("piece_layer", "piece_part"):
            if len(getattr(self, name)) != n:
                raise InvalidDataError(f"partition: {name} has {len(getattr(self, name))} entries, {n} pieces")
        if len(box) != n:
            raise InvalidDataError(f"partition: piece_box has {len(box)} rows, {n} pieces")
        k = len(self.cluster_rows)
        for name in ("cluster_synapses", "cluster_memory_bits", *_FLOAT_FIELDS):
            if len(getattr(self, name)) != k:
                raise InvalidDataError(f"partition: {name} has {len(getattr(self, name))} entries, {k} clusters")
        for name in ("traffic", "partial_traffic"):
            m = sp.csr_matrix(getattr(self, name), dtype=np.float64)
            if m.shape != (k, k):
                raise InvalidDataError(f"partition: {name} is {m.shape}, expected ({k}, {k})")
            object.__setattr__(self, name, m)
        if n and (self.piece_cluster.min() < 0 or self.piece_cluster.max() >= k):
            raise InvalidDataError(f"partition: piece cluster ids outside [0, {k})")
        if k and np.bincount(self.piece_cluster, minlength=k).min() == 0:
            empty = int(np.argmin(np.bincount(self.piece_cluster, minlength=k)))
            raise InvalidDataError(f"partition: cluster {empty} has no pieces")
        if n:
            shapes = np.asarray(self.layer_shapes, dtype=np.int64)[self.piece_layer]
            lo, hi = box[:, 0::2], box[:, 1::2]
            if (lo < 0).any() or (hi > shapes).any() or (hi <= lo).any():
                bad = int(np.flatnonzero(((lo < 0) | (hi > shapes) | (hi <= lo)).any(1))[0])
                raise InvalidDataError(f"partition: piece {bad} box {box[bad].tolist()} is empty or outside "
                                       f"layer {self.layers[self.piece_layer[bad]]} {self.layer_shapes[self.piece_layer[bad]]}")
        for what, values in (("rows", self.cluster_rows), ("columns", self.cluster_columns),
                             ("memory_bits", self.cluster_memory_bits)):
            limit = self.limits.get(what)
            if limit is not None and k and values.max() > limit:
                i = int(np.argmax(values))
                raise CapacityError(f"{self.describe(i)}: {int(values[i])} {what.replace('_', ' ')} needed, "
                                    f"crossbar has {limit}")

    # -- derived views -----------------------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return len(self.cluster_rows)

    @property
    def piece_neurons(self) -> np.ndarray:
        """Columns of each piece (neurons in its box)."""
        b = self.piece_box
        return (b[:, 1] - b[:, 0]) * (b[:, 3] - b[:, 2]) * (b[:, 5] - b[:, 4])

    @property
    def cluster_columns(self) -> np.ndarray:
        """Crossbar columns used per cluster (neurons plus partial-sum columns)."""
        if "columns" not in self._derived:
            c = np.bincount(self.piece_cluster, weights=self.piece_neurons, minlength=self.n_clusters)
            self._derived["columns"] = _ro(c, np.int64)
        return self._derived["columns"]

    @property
    def cluster_neurons(self) -> np.ndarray:
        """Neurons of the network per cluster (part-0 pieces only)."""
        w = np.where(self.piece_part == 0, self.piece_neurons, 0)
        return np.bincount(self.piece_cluster, weights=w, minlength=self.n_clusters).astype(np.int64)

    @property
    def cluster_layer(self) -> np.ndarray:
        """Layer index of each cluster, −1 when its pieces come from several layers."""
        if "layer" not in self._derived:
            k = self.n_clusters
            lo = np.full(k, np.iinfo(np.int64).max)
            hi = np.full(k, -1)
            np.minimum.at(lo, self.piece_cluster, self.piece_layer)
            np.maximum.at(hi, self.piece_cluster, self.piece_layer)
            self._derived["layer"] = _ro(np.where(lo == hi, lo, -1), np.int64)
        return self._derived["layer"]

    @property
    def cluster_role(self) -> np.ndarray:
        """0 for clusters holding neurons, 1 for clusters of partial-sum columns only."""
        hi = np.zeros(self.n_clusters, np.int64)
        np.maximum.at(hi, self.piece_cluster, (self.piece_part == 0).astype(np.int64))
        return 1 - hi

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cluster graph edges ``(src, dst, tokens per timestep)``, spikes and partial sums, no self loops."""
        m = (self.traffic + self.partial_traffic).tocoo()
        keep = m.row != m.col
        return m.row[keep].astype(np.int64), m.col[keep].astype(np.int64), m.data[keep]

    def edge_delays(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Delay in timesteps of each cluster connection ``src[e] -> dst[e]``: the least delay of
        the layer connections it carries (0 if it carries partial sums or a direct connection)."""
        out = np.zeros(len(src), dtype=np.int64)
        if not any(d[2] for d in self.layer_delays) or not len(src):
            return out
        least: dict[tuple[int, int], int] = {}
        for a, b, steps in self.layer_delays:
            least[(a, b)] = min(steps, least.get((a, b), steps))
        members = [set() for _ in range(self.n_clusters)]
        for c, layer in zip(self.piece_cluster.tolist(), self.piece_layer.tolist()):
            members[c].add(layer)
        partial = self.partial_traffic
        for e, (i, j) in enumerate(zip(np.asarray(src).tolist(), np.asarray(dst).tolist())):
            if partial[i, j] > 0:
                continue
            found = [least[(a, b)] for a in members[i] for b in members[j] if (a, b) in least]
            out[e] = min(found) if found else 0
        return out

    def describe(self, cluster: int) -> str:
        """``"layer conv3 (cluster 7)"`` or ``"cluster 7 (layers a, b)"``."""
        names = sorted({self.layers[i] for i in self.piece_layer[self.piece_cluster == cluster]})
        if len(names) == 1:
            return f"layer {names[0]} (cluster {cluster})"
        return f"cluster {cluster} (layers {', '.join(names)})"

    def cluster_pieces(self, cluster: int) -> list[dict[str, Any]]:
        """The pieces of one cluster as dicts: layer, part, channel/row/column ranges."""
        out = []
        for i in np.flatnonzero(self.piece_cluster == cluster):
            b = self.piece_box[i].tolist()
            out.append({"layer": self.layers[self.piece_layer[i]], "part": int(self.piece_part[i]),
                        "channels": b[0:2], "rows": b[2:4], "cols": b[4:6]})
        return out

    def summary(self) -> dict[str, Any]:
        """Totals: clusters, columns, rows, synapses, spikes and traffic per timestep."""
        diag = float(self.traffic.diagonal().sum())
        total = float(self.traffic.sum())
        return {
            "clusters": self.n_clusters,
            "neurons": int(self.cluster_neurons.sum()),
            "columns": int(self.cluster_columns.sum()),
            "column_utilisation": float(self.cluster_columns.sum() / max(1, self.n_clusters * self.limits.get("columns", 1))),
            "input_rows": int(self.cluster_rows.sum()),
            "synapses": int(self.cluster_synapses.sum()),
            "spikes_per_timestep": float(self.cluster_spikes.sum()),
            "deliveries_per_timestep": total,
            "between_clusters_per_timestep": total - diag,
            "partial_sums_per_timestep": float(self.partial_traffic.sum()),
        }
