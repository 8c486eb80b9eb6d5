"""Cache of co-design simulations: accuracy and activity per (weight bits, timesteps).

Hardware parameters (PE count, crossbar size) do not change what the integer network computes,
so a sweep simulates each (bits, T) pair once and evaluates every hardware variant on the
recorded activity. The cache holds those runs in memory and, optionally, in a folder: one
``.npz`` per run (read with ``allow_pickle=False``), named by a SHA-256 of everything that
determines the run — the network's structure and parameters, the inputs and labels, the
quantisation options, (bits, T) and what was recorded. The figures of each evaluated design
point (a few numbers, keyed by the run's key plus the hardware spec and point) sit beside them
as ``.json``, so repeating a sweep, or extending it by one PE count, computes only what is new.
Every file is written atomically (a temporary file renamed into place), so concurrent or
interrupted sweeps never leave a torn entry: the workers of a Dask cluster
(:mod:`spikeforge.explore.engine`) share one folder, and two writers of the same key write the
same content, the last rename winning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import public
from spikeforge.errors import ModelFileError, OutputPathError
from spikeforge.fileio import read_npz
from spikeforge.ir import network as ir
from spikeforge.outputs import atomic_file, check_folder_writable
from spikeforge.quantize import LayerTrace, SpikeTrace
from spikeforge.sim.simulator import LayerProfile, Profile

__all__ = ["Simulated", "SimulationCache", "fingerprint", "network_fingerprint"]

_FORMAT = "spikeforge.codesign-run"
_VERSION = 2  # 2: accelerator figures charge the network's dynamics and the neuron-to-PE assignment


@dataclass(frozen=True, eq=False)
class Simulated:
    """One integer simulation at (``weight_bits``, ``timesteps``).

    Attributes
    ----------
    accuracy : float
        Top-1 accuracy of the integer network (binary spikes) on the sweep's data.
    trace : SpikeTrace or None
        Per-layer, per-timestep, per-sample activity (accelerator targets).
    profile : Profile or None
        Aggregated activity (crossbar targets: partition, dataflow and energy).
    """

    weight_bits: int
    timesteps: int
    accuracy: float
    trace: SpikeTrace | None = None
    profile: Profile | None = None


def _update(h: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"array{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _update(h, v)
    elif isinstance(value, np.generic):
        _update(h, value.item())
    else:
        h.update(repr(value).encode())


@public
def network_fingerprint(net: ir.Network) -> str:
    """SHA-256 of a network's structure and every parameter (names, types, fields, arrays).

    Examples
    --------
    >>> import numpy as np
    >>> a = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.eye(2, dtype=np.float32))), ("fc",))
    >>> b = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), 2 * np.eye(2, dtype=np.float32))), ("fc",))
    >>> network_fingerprint(a) == network_fingerprint(b)
    False
    """
    h = hashlib.sha256()
    _update(h, (net.name, tuple(net.outputs)))
    for node in net.nodes:
        _update(h, type(node).__name__)
        for f in dataclasses.fields(node):
            h.update(f.name.encode())
            _update(h, getattr(node, f.name))
    return h.hexdigest()


@public
def fingerprint(*parts: Any) -> str:
    """SHA-256 of arrays, numbers, strings and nested sequences, in order.

    Examples
    --------
    >>> fingerprint(np.zeros(2), 8) == fingerprint(np.zeros(2), 8) != fingerprint(np.zeros(3), 8)
    True
    """
    h = hashlib.sha256()
    _update(h, parts)
    return h.hexdigest()


def _encode(run: Simulated) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta: dict[str, Any] = {"format": _FORMAT, "version": _VERSION, "weight_bits": run.weight_bits,
                            "timesteps": run.timesteps, "accuracy": run.accuracy}
    arrays: dict[str, np.ndarray] = {}
    if run.trace is not None:
        t = run.trace
        meta["trace"] = {"network": t.network, "timesteps": t.timesteps, "samples": t.samples,
                         "granularity": t.granularity, "input_elements": t.input_elements,
                         "layers": [{"name": la.name, "kind": la.kind, "input_kind": la.input_kind,
                                     "parameters": la.parameters, "synapses": la.synapses} for la in t.layers]}
        for i, la in enumerate(t.layers):
            arrays[f"trace/{i}/events"] = la.events
            arrays[f"trace/{i}/ops"] = la.ops
            arrays[f"trace/{i}/neurons_per_unit"] = la.neurons_per_unit
    if run.profile is not None:
        p = run.profile
        meta["profile"] = {"network": p.network, "timesteps": p.timesteps, "samples": p.samples,
                           "layers": [{"name": la.name, "kind": la.kind, "neurons": la.neurons,
                                       "spikes": la.spikes, "synops": la.synops, "input_kind": la.input_kind,
                                       "counts": la.spike_counts is not None} for la in p.layers]}
        for i, la in enumerate(p.layers):
            if la.spike_counts is not None:
                arrays[f"profile/{i}/spike_counts"] = la.spike_counts
    return meta, arrays


def _decode(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Simulated:
    trace = profile = None
    if "trace" in meta:
        t = meta["trace"]
        layers = tuple(LayerTrace(la["name"], la["kind"], la["input_kind"], arrays[f"trace/{i}/events"],
                                  arrays[f"trace/{i}/ops"], arrays[f"trace/{i}/neurons_per_unit"],
                                  int(la["parameters"]), int(la["synapses"])) for i, la in enumerate(t["layers"]))
        trace = SpikeTrace(t["network"], int(t["timesteps"]), int(t["samples"]), t["granularity"],
                           int(t["input_elements"]), layers)
    if "profile" in meta:
        p = meta["profile"]
        layers = tuple(LayerProfile(la["name"], la["kind"], int(la["neurons"]), float(la["spikes"]),
                                    float(la["synops"]), la["input_kind"],
                                    arrays[f"profile/{i}/spike_counts"] if la["counts"] else None)
                       for i, la in enumerate(p["layers"]))
        profile = Profile(p["network"], int(p["timesteps"]), int(p["samples"]), layers)
    return Simulated(int(meta["weight_bits"]), int(meta["timesteps"]), float(meta["accuracy"]), trace,
                     profile)


class SimulationCache:
    """Simulations keyed by a fingerprint string; in memory, and on disk when ``folder`` is set.

    An unreadable or foreign file in the folder is treated as a miss (and overwritten by the
    next store), never as an error: the cache only ever saves work.

    Parameters
    ----------
    folder : path, optional
        Where entries persist across processes (created on the first store).

    Raises
    ------
    OutputPathError
        ``folder`` exists and is not a folder, or files cannot be made in it (read-only,
        immutable, another user's; checked before any simulation runs).

    Examples
    --------
    >>> cache = SimulationCache()
    >>> cache.get("k") is None
    True
    >>> cache.put("k", Simulated(8, 4, 0.9)).accuracy, cache.get("k").timesteps
    (0.9, 4)
    """

    @public
    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None and os.path.lexists(self.folder) and not self.folder.is_dir():
            raise OutputPathError(f"cache {self.folder}: exists and is not a folder; name a folder")
        if self.folder is not None:  # workers write into it as they finish: refused now, not then
            check_folder_writable(self.folder, f"cache {self.folder}")
        self._memory: dict[str, Simulated] = {}
        self._figures: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._memory)

    def _write(self, name: str, write: Callable[[Any], None]) -> None:
        """Write ``folder/name`` atomically with ``write(binary file)``."""
        atomic_file(self.folder / name, write)

    def get(self, key: str) -> Simulated | None:
        """The stored run for ``key`` (memory first, then disk), or None."""
        if key in self._memory:
            return self._memory[key]
        path = None if self.folder is None else self.folder / f"{key}.npz"
        if path is None or not path.is_file():
            return None
        try:
            arrays = read_npz(path, "cache entry")
            meta = json.loads(str(arrays.pop("meta")))
            if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
                return None
            run = _decode(meta, arrays)
        except (ModelFileError, ValueError, KeyError, TypeError):
            return None
        self._memory[key] = run
        return run

    def put(self, key: str, run: Simulated) -> Simulated:
        """Store ``run`` under ``key`` (the file atomically); return it."""
        self._memory[key] = run
        if self.folder is not None:
            meta, arrays = _encode(run)
            self._write(f"{key}.npz", lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))
        return run

    def get_figures(self, key: str) -> dict[str, Any] | None:
        """The figures stored for the design point ``key``, or None."""
        if key in self._figures:
            return self._figures[key]
        path = None if self.folder is None else self.folder / f"{key}.json"
        if path is None or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
            return None
        self._figures[key] = doc["figures"]
        return doc["figures"]

    def remember_figures(self, key: str, figures: Mapping[str, Any]) -> None:
        """Keep figures a worker already wrote to the folder, in memory only."""
        self._figures[key] = dict(figures)

    def put_figures(self, key: str, figures: Mapping[str, Any]) -> dict[str, Any]:
        """Store a design point's figures (JSON numbers) under ``key``; return them."""
        figures = dict(figures)
        self._figures[key] = figures
        if self.folder is not None:
            doc = {"format": _FORMAT, "version": _VERSION, "figures": figures}
            self._write(f"{key}.json", lambda f: f.write(json.dumps(doc).encode()))
        return figures
