"""The deployment artifact that ``spikeforge compile`` writes, and its loader.

A folder (written atomically: nothing partial on error) holding

``artifact.json``
    format name and version, hardware name and full spec (TOML text), network summary,
    timesteps, placement (per cluster: layer, crossbar, core, chip), the design-time schedule
    (cluster -> crossbar, static orders), the figures (accuracy, guaranteed throughput,
    latency, energy, bottleneck) and the file list;
``arrays.npz``
    per cluster ``cluster_crossbar``, ``cluster_core``, ``cluster_layer``, ``execution_ns``,
    and the traffic matrix as ``traffic_row``, ``traffic_col``, ``traffic_spikes``
    (spikes and partial sums per timestep);
``snn/``
    the SNN (:func:`spikeforge.ir.serialize.write_network`);
``graph.xml``
    the bound SDFG in SDF3 XML (communication actors, static orders), as analysed;
``application.xml``
    the cluster graph with its design-time schedule (no communication actors): what
    :meth:`spikeforge.runtime.admission.Runtime.admit` re-binds at run time.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.api import public
from spikeforge.errors import ModelFileError, SpikeforgeError

if TYPE_CHECKING:
    from spikeforge.pipeline import Compiled

__all__ = ["FORMAT", "VERSION", "Artifact", "load_artifact", "write_artifact"]

FORMAT = "spikeforge.artifact"
VERSION = 1


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else str(v)
    return value


def artifact_document(c) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON document and arrays of a :class:`~spikeforge.pipeline.Compiled`."""
    from spikeforge.hardware import core_coordinates, hardware_to_toml

    part, pl, sched = c.partition, c.placement, c.schedule
    hw = c.platform.hardware
    per = hw.core.crossbars_per_core
    xbar = np.array([sched.binding[f"c{i}"] for i in range(part.n_clusters)], dtype=np.int64)
    core = xbar // per
    xyz = core_coordinates(hw)[core]
    layers = part.cluster_layer
    clusters = [{"id": i, "layer": part.layers[layers[i]] if layers[i] >= 0 else None,
                 "crossbar": int(xbar[i]), "core": int(core[i]), "chip": int(xyz[i, 0]),
                 "x": int(xyz[i, 1]), "y": int(xyz[i, 2]),
                 "columns": int(part.cluster_columns[i]), "rows": int(part.cluster_rows[i])}
                for i in range(part.n_clusters)]
    summary = [{"name": r.name, "type": r.kind, "shape": list(r.shape), "neurons": r.neurons,
                "synapses": r.synapses} for r in c.snn.summary()]
    doc = {
        "format": FORMAT, "version": VERSION,
        "name": c.snn.name,
        "hardware": {"name": hw.name, "chips": hw.chips, "spec_toml": hardware_to_toml(hw)},
        "timesteps": c.guarantee.timesteps,
        "network": {"name": c.snn.name, "kind": c.snn.kind, "layers": summary,
                    "neurons": int(sum(r["neurons"] for r in summary)),
                    "synapses": int(sum(r["synapses"] for r in summary))},
        "options": {k: v for k, v in vars(c.options).items()},
        "mapping": {"partitioner": part.strategy, "placer": pl.strategy,
                    "binding": sched.strategy, "clusters": clusters},
        "schedule": {"binding": {a: int(x) for a, x in sched.binding.items()},
                     "orders": {str(x): list(o) for x, o in sched.orders.items()},
                     "period_ns": sched.period, "critical": list(sched.critical)},
        "figures": c.figures,
        "files": ["artifact.json", "arrays.npz", "snn", "graph.xml", "application.xml"],
    }
    m = (part.traffic + part.partial_traffic).tocoo()
    arrays = {"cluster_crossbar": xbar, "cluster_core": core,
              "cluster_layer": np.asarray(layers, np.int64),
              "execution_ns": np.array([float(c.application.actor(f"c{i}").execution_time)
                                        for i in range(part.n_clusters)]),
              "traffic_row": m.row.astype(np.int64), "traffic_col": m.col.astype(np.int64),
              "traffic_spikes": m.data.astype(np.float64)}
    return _jsonable(doc), arrays


@public
def write_artifact(path: str | os.PathLike, compiled: Compiled, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Write the artifact folder atomically; returns its path. ``inputs`` are paths the output
    must neither be, hold nor lie inside (:func:`spikeforge.outputs.atomic_directory`).

    Raises
    ------
    SpikeforgeError
        From the writers (e.g. :class:`~spikeforge.errors.InvalidGraphError` for an
        unwritable graph); nothing is left behind.
    """
    from spikeforge.dataflow.sdf3 import write_sdf3
    from spikeforge.ir.serialize import write_network
    from spikeforge.outputs import atomic_directory

    doc, arrays = artifact_document(compiled)

    def fill(tmp: Path) -> None:
        (tmp / "artifact.json").write_text(json.dumps(doc, indent=1))
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "snn").mkdir()
        write_network(compiled.snn, tmp / "snn", {"artifact": doc["name"]})
        write_sdf3(compiled.graph, tmp / "graph.xml")
        write_sdf3(compiled.application, tmp / "application.xml")

    return atomic_directory(path, fill, inputs)


# Types of the fields of artifact.json as write_artifact writes them: name -> type rule, a nested
# dict for an object, a 1-tuple (rule,) for a list of that rule, ("dict", rule) for an object of any
# keys. Counts and ids are integers >= 0 (_INT), the chips >= 1. Fields whose values are checked
# elsewhere (name, hardware.spec_toml, timesteps, schedule.period_ns, schedule.critical, the
# clusters' rows and columns) are left to those checks.
_INT, _CHIPS = "an integer ≥ 0", "an integer ≥ 1"
_STR, _STR_OR_NONE, _ANY = "a string", "a string or null", "any JSON value"
_LOWEST = {_INT: 0, _CHIPS: 1}
_SCHEMA: dict[str, Any] = {
    "hardware": {"name": _STR, "chips": _CHIPS},
    "network": {"name": _STR, "kind": _STR, "neurons": _INT, "synapses": _INT,
                "layers": ({"name": _STR, "type": _STR, "shape": (_INT,), "neurons": _INT,
                            "synapses": _INT},)},
    "options": ("dict", _ANY),
    "mapping": {"partitioner": _STR, "placer": _STR, "binding": _STR,
                "clusters": ({"id": _INT, "layer": _STR_OR_NONE, "crossbar": _INT, "core": _INT,
                              "chip": _INT, "x": _INT, "y": _INT},)},
    "schedule": {"binding": ("dict", _INT), "orders": ("dict", (_STR,))},
    "figures": ("dict", _ANY),
    "files": (_STR,),
}
# Containers whose absence or wrong type the checks that read them report (_check_document,
# _check_mapping), in their own words; here only their contents are checked, when present.
_LENIENT = {"hardware", "schedule", "mapping", "mapping.clusters"}


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else \
        f"<{'object' if isinstance(value, dict) else 'list' if isinstance(value, list) else type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _check_rule(value: Any, rule: Any, field: str, spec: Path) -> None:
    """Raise :class:`ModelFileError` naming ``field`` unless ``value`` has the type ``rule`` says."""
    if field in _LENIENT and not isinstance(value, list if isinstance(rule, tuple) else dict):
        return
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be an object")
        for key, sub in rule.items():
            if key not in value:
                if f"{field}.{key}" in _LENIENT:
                    continue
                raise ModelFileError(f"{spec}: {field}.{key}: missing")
            _check_rule(value[key], sub, f"{field}.{key}", spec)
    elif isinstance(rule, tuple) and len(rule) == 1:
        if not isinstance(value, list):
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be a list")
        for i, item in enumerate(value):
            _check_rule(item, rule[0], f"{field}[{i}]", spec)
    elif isinstance(rule, tuple):
        if not isinstance(value, dict):
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be an object")
        for key, item in value.items():
            _check_rule(item, rule[1], f"{field}.{key}", spec)
    elif rule in _LOWEST:
        if isinstance(value, bool) or not isinstance(value, int) or value < _LOWEST[rule]:
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be {rule}")
    elif rule == _STR:
        if not isinstance(value, str):
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be a string")
    elif rule == _STR_OR_NONE:
        if value is not None and not isinstance(value, str):
            raise ModelFileError(f"{spec}: {field} = {_shown(value)}: must be a string or null")


def _check_types(doc: dict[str, Any], spec: Path) -> None:
    """Every field of ``artifact.json`` present and of the type :func:`write_artifact` writes.

    Raises
    ------
    ModelFileError
        A field is missing or of another type; the message names the field (dotted, with list
        indices) and the value found, e.g. ``artifact.json: mapping.clusters[3].core = "7": must
        be an integer ≥ 0``.
    """
    for key, rule in _SCHEMA.items():
        if key not in doc:
            if key in _LENIENT:
                continue
            raise ModelFileError(f"{spec}: {key}: missing")
        _check_rule(doc[key], rule, key, spec)


@dataclass(frozen=True, eq=False)
class Artifact:
    """A loaded deployment artifact."""

    path: Path
    document: dict[str, Any]
    arrays: dict[str, np.ndarray]
    snn: Any
    graph: Any
    application: Any
    hardware: Any

    @property
    def name(self) -> str:
        return self.document["name"]

    @property
    def timesteps(self) -> int:
        return int(self.document["timesteps"])

    @property
    def figures(self) -> dict[str, Any]:
        return self.document["figures"]

    def design(self):
        """The design-time schedule and guarantee, for :meth:`Runtime.admit`."""
        from spikeforge.dataflow.binding import Platform
        from spikeforge.runtime.admission import Design

        platform = Platform.from_hardware(self.hardware)
        s = self.document["schedule"]
        return Design(self.application, platform, float(s["period_ns"]), tuple(s["critical"]),
                      timesteps=self.timesteps, name=self.name)


@public
def load_artifact(path: str | os.PathLike) -> Artifact:
    """Re-load an artifact written by :func:`write_artifact`.

    Raises
    ------
    ModelFileError
        Not an artifact folder, another format version, a corrupt file, no record of the
        hardware it was compiled for (or a hardware spec that is not valid TOML, nests too
        deeply or is out of range), an application graph that deadlocks, or a recorded figure
        out of range (timesteps below 1, a period that is not finite and > 0, a negative count
        or id, an array holding NaN, infinite or negative values, clusters larger than the
        recorded crossbars, a cluster count the application graph does not have); the message
        names the field.
    """
    from spikeforge.dataflow.consistency import check_deadlock
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.fileio import read_arrays, read_versioned_json
    from spikeforge.hardware import hardware_from_dict
    from spikeforge.hardware.spec import parse_toml
    from spikeforge.ir.serialize import load_network

    folder = Path(path)
    spec = folder / "artifact.json"
    doc = read_versioned_json(folder, "artifact.json", FORMAT, VERSION, "a spikeforge artifact")
    _check_types(doc, spec)
    _check_document(doc, spec)
    try:
        arrays = read_arrays(folder / "arrays.npz")
        source = f"{spec}: hardware.spec_toml"
        hw = hardware_from_dict(parse_toml(doc["hardware"]["spec_toml"], source=source), source=source)
        graph = read_sdf3(folder / "graph.xml")
        application = read_sdf3(folder / "application.xml")
        snn = load_network(folder / "snn")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{folder}: corrupt artifact ({type(exc).__name__}: {exc})") from None
    except SpikeforgeError as exc:
        raise ModelFileError(f"{folder}: corrupt artifact ({exc})") from None
    try:
        check_deadlock(application)  # under its static orders, which admission keeps
    except SpikeforgeError as exc:  # a deadlock, or no repetition vector
        raise ModelFileError(f"{folder / 'application.xml'}: {exc}") from None
    _check_mapping(doc, spec, hw, application)
    _check_arrays(arrays, folder / "arrays.npz")
    return Artifact(folder, doc, arrays, snn, graph, application, hw)


def _refuse(spec: Path, field: str, value: Any, rule: str) -> ModelFileError:
    return ModelFileError(f"{spec}: {field} = {value!r}: {rule}")


def _check_document(doc: dict[str, Any], spec: Path) -> None:
    """The recorded fields admission relies on: name, hardware record, timesteps, schedule."""
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    from spikeforge.resources import check_count

    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise _refuse(spec, "name", name, "must be a non-empty string")
    hardware = doc.get("hardware")
    if not isinstance(hardware, dict) or not isinstance(hardware.get("spec_toml"), str):
        raise ModelFileError(f"{spec}: no hardware.spec_toml: the artifact does not record the hardware it was "
                             "compiled for (an older or damaged artifact); compile it again")
    try:
        timesteps = check_count(doc.get("timesteps"), "timesteps", high=MAX_TIMESTEPS)
    except SpikeforgeError as exc:
        raise ModelFileError(f"{spec}: {exc}") from None
    schedule = doc.get("schedule") if isinstance(doc.get("schedule"), dict) else {}
    period = schedule.get("period_ns")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not (math.isfinite(period) and period > 0):
        raise _refuse(spec, "schedule.period_ns", period, "must be a finite number > 0")
    critical = schedule.get("critical")
    if not isinstance(critical, list) or not all(isinstance(a, str) for a in critical):
        raise _refuse(spec, "schedule.critical", critical, "must be a list of actor names")
    guarantee = doc["figures"].get("guarantee") if isinstance(doc.get("figures"), dict) else None
    recorded = guarantee.get("timesteps", timesteps) if isinstance(guarantee, dict) else timesteps
    if recorded != timesteps:
        raise _refuse(spec, "figures.guarantee.timesteps", recorded, f"must equal timesteps = {timesteps}")


def _check_mapping(doc: dict[str, Any], spec: Path, hw, application) -> None:
    """One cluster per actor of the application graph, each within the recorded crossbar."""
    clusters = doc["mapping"].get("clusters") if isinstance(doc.get("mapping"), dict) else None
    if not isinstance(clusters, list) or len(clusters) != len(application.actors):
        count = len(clusters) if isinstance(clusters, list) else clusters
        raise _refuse(spec, "mapping.clusters", count,
                      f"must list the {len(application.actors)} clusters of application.xml")
    limits = {"rows": hw.core.crossbar_rows, "columns": hw.core.crossbar_columns}
    for i, cluster in enumerate(clusters):
        for key, limit in limits.items():
            value = cluster.get(key) if isinstance(cluster, dict) else None
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise _refuse(spec, f"mapping.clusters[{i}].{key}", value,
                              f"must be an integer in 0..{limit} (crossbars of {hw.name})")


#: Least value of each array of ``arrays.npz`` (a cluster without a layer has layer -1).
_ARRAY_LOWEST = {"cluster_crossbar": 0, "cluster_core": 0, "cluster_layer": -1, "execution_ns": 0,
                 "traffic_row": 0, "traffic_col": 0, "traffic_spikes": 0}


def _check_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """The arrays :func:`write_artifact` writes: real numbers, finite and not below their least value."""
    for key, low in _ARRAY_LOWEST.items():
        values = arrays.get(key)
        if values is None:
            raise ModelFileError(f"{path}: no array {key!r}")
        if values.dtype.kind not in "iuf":
            raise ModelFileError(f"{path}: {key} holds {values.dtype} values, not numbers")
        bad = ~np.isfinite(values) | (values < low)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise ModelFileError(f"{path}: {key}[{i}] = {values.ravel()[i]}: must be finite and ≥ {low}")
