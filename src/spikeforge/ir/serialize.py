"""Save and load a :class:`~spikeforge.ir.network.Network`: JSON structure + npz arrays.

A saved network is a folder holding ``network.json`` (format name and version, node types and
attributes) and ``arrays.npz`` (every array, loaded with ``allow_pickle=False``). Writes are
atomic and replace only spikeforge's own folders (:mod:`spikeforge.outputs`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import public
from spikeforge.errors import ModelFileError, SpikeforgeError
from spikeforge.fileio import read_npz, read_versioned_json, short_repr
from spikeforge.ir.network import NODE_TYPES, Network, Node
from spikeforge.outputs import atomic_directory

FORMAT = "spikeforge.network"
VERSION = 1


def _encode_node(node: Node, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type(node).__name__}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, np.ndarray):
            key = f"{node.name}/{f.name}"
            arrays[key] = value
            entry[f.name] = {"array": key}
        elif f.name == "gains" and value is not None:
            keys = []
            for i, g in enumerate(value):
                if g is None:
                    keys.append(None)
                else:
                    arrays[f"{node.name}/gains/{i}"] = g
                    keys.append({"array": f"{node.name}/gains/{i}"})
            entry[f.name] = keys
        elif isinstance(value, tuple):
            entry[f.name] = list(value)
        else:
            entry[f.name] = value
    return entry


def write_network(net: Network, folder: Path, metadata: dict[str, Any] | None = None) -> None:
    """Write ``net`` into an existing ``folder`` (not atomic; see :func:`save_network`)."""
    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "name": net.name,
        "outputs": list(net.outputs),
        "nodes": [_encode_node(n, arrays) for n in net.nodes],
        "metadata": metadata or {},
    }
    (folder / "network.json").write_text(json.dumps(doc, indent=1))
    np.savez(folder / "arrays.npz", **arrays)


@public
def save_network(net: Network, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Save ``net`` to the folder ``path`` atomically; return the path.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from spikeforge.ir.network import Input, Linear
    >>> net = Network((Input("x", (), (2,)), Linear("fc", ("x",), np.eye(2, dtype=np.float32))), ("fc",))
    >>> d = save_network(net, tempfile.mkdtemp() + "/net")
    >>> load_network(d).shape("fc")
    (2,)
    """
    return atomic_directory(path, lambda tmp: write_network(net, tmp, metadata))


@public
def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict stored beside a saved network."""
    return _read_doc(Path(path))["metadata"]


#: Deepest nesting of lists in a node field (a weight written inline as nested lists is 4 deep).
_MAX_NESTING = 8


def _read_doc(folder: Path) -> dict[str, Any]:
    doc = read_versioned_json(folder, "network.json", FORMAT, VERSION, "a saved spikeforge network")
    doc.setdefault("metadata", {})
    if not isinstance(doc["metadata"], dict):
        raise ModelFileError(f"{folder / 'network.json'}: metadata is {short_repr(doc['metadata'])}, not an object")
    return doc


def _decode(value: Any, arrays: dict[str, np.ndarray], where: str, depth: int = 0) -> Any:
    """A JSON field value with ``{"array": key}`` references replaced by the arrays; lists as tuples."""
    if isinstance(value, dict):
        key = value.get("array")
        if set(value) != {"array"} or not isinstance(key, str):
            raise ModelFileError(f"{where}: {short_repr(value)} is not an array reference {{\"array\": name}}")
        if key not in arrays:
            raise ModelFileError(f"{where}: refers to missing array {key!r}")
        return arrays[key]
    if isinstance(value, list):
        if depth >= _MAX_NESTING:
            raise ModelFileError(f"{where}: lists nested more than {_MAX_NESTING} deep")
        return tuple(_decode(v, arrays, where, depth + 1) for v in value)
    return value


def _load_node(spec: Path, i: int, entry: Any, arrays: dict[str, np.ndarray]) -> Node:
    """Node ``i`` of ``spec`` built from its JSON ``entry``; the node checks its own fields."""
    if not isinstance(entry, dict):
        raise ModelFileError(f"{spec}: node {i} is {short_repr(entry)}, not an object")
    name = entry.get("name")
    label = f"node {i}" + (f" ({name!r})" if isinstance(name, str) else "")
    kind = entry.get("type")
    cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{spec.parent}: node {i} has unknown type {short_repr(kind)}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(entry) - set(fields) - {"type"})
    if unknown:
        raise ModelFileError(f"{spec}: {label} ({cls.__name__}): unknown field {short_repr(unknown[0])}; "
                             f"its fields are {', '.join(fields)}")
    kwargs = {k: _decode(v, arrays, f"{spec}: {label}.{k}") for k, v in entry.items() if k != "type"}
    try:
        return cls(**kwargs)
    except SpikeforgeError as exc:
        raise ModelFileError(f"{spec}: {label}: {exc}") from None
    except (TypeError, ValueError) as exc:  # a missing field, or a value no rule foresaw
        raise ModelFileError(f"{spec}: {label} ({cls.__name__}) is malformed "
                             f"({str(exc).splitlines()[0][:200]})") from None


@public
def load_network(path: str | os.PathLike) -> Network:
    """Load a network saved by :func:`save_network`.

    Every node checks its fields as when built in Python (:mod:`spikeforge.ir.network`), so a
    hand-edited folder is held to the same rules.

    Raises
    ------
    ModelFileError
        The folder is missing, not a saved network, of another format version, or corrupt: a file
        too large or truncated, a node of an unknown type, with an unknown field, or a field value
        its layer refuses (the message names the folder, the node and the field).
    spikeforge.errors.ResourceError
        The arrays do not fit in the free memory.
    """
    folder = Path(path)
    doc = _read_doc(folder)
    spec = folder / "network.json"
    arrays = read_npz(folder / "arrays.npz", "arrays.npz")
    entries = doc.get("nodes")
    if not isinstance(entries, list):
        raise ModelFileError(f"{spec}: nodes is {short_repr(entries)}, not a list of layers")
    nodes = [_load_node(spec, i, entry, arrays) for i, entry in enumerate(entries)]
    try:
        return Network(tuple(nodes), doc.get("outputs"), doc.get("name", "network"))
    except SpikeforgeError as exc:
        raise ModelFileError(f"{folder}: {exc}") from None
