"""Save and load a :class:`~spikeforge.ir.network.Network`: JSON structure + npz arrays.

A saved network is a folder holding ``network.json`` (format name and version, node types and
attributes) and ``arrays.npz`` (every array, loaded with ``allow_pickle=False``). Writes are
atomic and replace only spikeforge's own folders (:mod:`spikeforge.outputs`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from spikeforge.api import public
from spikeforge.errors import InputPathError, ModelFileError, SpikeforgeError
from spikeforge.ir.network import NODE_TYPES, Network, Node
from spikeforge.outputs import atomic_directory
from spikeforge.resources import check_input_file, check_memory, format_bytes

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


#: Largest ``network.json`` (or other JSON document of a saved folder) read: it holds the
#: structure only, the arrays are in ``arrays.npz``.
MAX_JSON_BYTES = 64 << 20
#: Largest npz archive read; the arrays it declares are also checked against the free memory.
MAX_NPZ_BYTES = 64 << 30
#: Deepest nesting of lists in a node field (a weight written inline as nested lists is 4 deep).
_MAX_NESTING = 8
#: Deflate expands at most about 1032-fold; an archive entry claiming more is corrupt.
_MAX_DEFLATE_RATIO = 1100


def _input_file(path: Path, max_bytes: int, what: str, error: type[SpikeforgeError]) -> Path:
    """:func:`~spikeforge.resources.check_input_file`, its refusal raised as ``error``."""
    try:
        return check_input_file(path, max_bytes, what)
    except InputPathError as exc:
        raise error(str(exc)) from None


def read_versioned_json(folder: Path, filename: str, fmt: str, version: int,
                        what: str) -> dict[str, Any]:
    """Read ``folder/filename``: a JSON object with ``"format": fmt`` and ``"version": version``.

    ``what`` names the kind of folder in the error for a missing file (e.g. ``"a spikeforge
    artifact"``).

    Raises
    ------
    ModelFileError
        The file is missing, not a regular file, larger than :data:`MAX_JSON_BYTES`, not valid
        JSON (or nested too deeply to parse), or of another format or version.
    """
    spec = Path(folder) / filename
    if not spec.exists():
        raise ModelFileError(f"{folder}: not {what} (no {filename})")
    _input_file(spec, MAX_JSON_BYTES, filename, ModelFileError)
    try:
        doc = json.loads(spec.read_text())
    except RecursionError:
        raise ModelFileError(f"{spec}: not valid JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, or an integer of 4300+ digits
        raise ModelFileError(f"{spec}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    except OSError as exc:
        raise ModelFileError(f"{spec}: cannot read ({exc.strerror})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ModelFileError(f"{spec}: format is {_show(found)}, expected {fmt!r}")
    if doc.get("version") != version:
        raise ModelFileError(f"{spec}: format version {_show(doc.get('version'))}, this spikeforge reads {version}")
    return doc


def _show(value: Any) -> str:
    """``repr(value)`` shortened for a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({type(value).__name__})"


def npz_headers(path: str | os.PathLike, what: str = "arrays", *,
                error: type[SpikeforgeError] = ModelFileError,
                max_bytes: int = MAX_NPZ_BYTES) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The ``(shape, dtype)`` every array of the npz archive ``path`` declares, read from the npy
    headers inside the archive without loading any array.

    Raises
    ------
    error (ModelFileError by default)
        ``path`` is missing, not a regular file or larger than ``max_bytes``; an ``.npy`` file
        (not an archive); not a zip archive or truncated; an entry that is not an npy array, whose
        header is corrupt, that holds Python objects, or that declares more data than it holds.
    """
    path = _input_file(Path(path), max_bytes, what, error)
    size = path.stat().st_size
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise error(f"{what} {path}: an .npy file (a single array), not an .npz archive; "
                            f"write it with numpy.savez")
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                entry = f"{what} {path}: entry {_show(info.filename)}"
                if not info.filename.endswith(".npy"):
                    raise error(f"{entry} is not an npy array")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise error(f"{entry}: compression method {info.compress_type}, npz uses stored or deflated")
                limit = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO)
                if info.compress_size > size or info.file_size > limit + 1024:
                    raise error(f"{entry}: sizes {info.compress_size} / {info.file_size} bytes do not fit "
                                f"an archive of {size} bytes (corrupt)")
                with archive.open(info) as member:
                    version = npy_format.read_magic(member)
                    if version not in ((1, 0), (2, 0), (3, 0)):
                        raise error(f"{entry}: npy format version {version}, not 1.0, 2.0 or 3.0")
                    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
                    shape, _, dtype = read(member)
                    header_bytes = member.tell()
                if dtype.hasobject:
                    raise error(f"{entry}: holds Python objects (dtype {dtype}), refused: they would be unpickled")
                nbytes = math.prod(shape) * dtype.itemsize
                if info.file_size < header_bytes + nbytes:
                    raise error(f"{entry}: declares shape {shape} {dtype} ({format_bytes(nbytes)}) but holds "
                                f"{format_bytes(info.file_size - header_bytes)} (truncated or corrupt)")
                headers[info.filename[:-4]] = (tuple(shape), dtype)
    except SpikeforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile and numpy's header parser raise many kinds on hostile bytes
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{what} {path}: cannot read arrays: not an npz archive, or truncated ({reason})") from None
    return headers


def read_npz(path: str | os.PathLike, what: str = "arrays", *,
             error: type[SpikeforgeError] = ModelFileError, max_bytes: int = MAX_NPZ_BYTES,
             names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays ``names`` (default: all) of the npz archive ``path``, read with
    ``allow_pickle=False`` after their declared shapes were checked (:func:`npz_headers`) and
    their total size against the free memory.

    Raises
    ------
    error (ModelFileError by default)
        See :func:`npz_headers`; also an entry whose data is truncated or corrupt.
    spikeforge.errors.ResourceError
        The arrays do not fit in the free memory.
    """
    path = Path(path)
    headers = npz_headers(path, what, error=error, max_bytes=max_bytes)
    wanted = list(headers) if names is None else [n for n in names if n in headers]
    check_memory(sum(math.prod(headers[n][0]) * headers[n][1].itemsize for n in wanted), f"{what} {path}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in wanted:
                with archive.open(f"{name}.npy") as member:
                    arrays[name] = npy_format.read_array(member, allow_pickle=False)
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zlib.error, struct.error) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{what} {path}: array data truncated or corrupt ({reason})") from None
    return arrays


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the npz file ``path``: :func:`read_npz` with :class:`ModelFileError`."""
    return read_npz(path)


def _read_doc(folder: Path) -> dict[str, Any]:
    doc = read_versioned_json(folder, "network.json", FORMAT, VERSION, "a saved spikeforge network")
    doc.setdefault("metadata", {})
    if not isinstance(doc["metadata"], dict):
        raise ModelFileError(f"{folder / 'network.json'}: metadata is {_show(doc['metadata'])}, not an object")
    return doc


def _decode(value: Any, arrays: dict[str, np.ndarray], where: str, depth: int = 0) -> Any:
    """A JSON field value with ``{"array": key}`` references replaced by the arrays; lists as tuples."""
    if isinstance(value, dict):
        key = value.get("array")
        if set(value) != {"array"} or not isinstance(key, str):
            raise ModelFileError(f"{where}: {_show(value)} is not an array reference {{\"array\": name}}")
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
        raise ModelFileError(f"{spec}: node {i} is {_show(entry)}, not an object")
    name = entry.get("name")
    label = f"node {i}" + (f" ({name!r})" if isinstance(name, str) else "")
    kind = entry.get("type")
    cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{spec.parent}: node {i} has unknown type {_show(kind)}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(entry) - set(fields) - {"type"})
    if unknown:
        raise ModelFileError(f"{spec}: {label} ({cls.__name__}): unknown field {_show(unknown[0])}; "
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
        raise ModelFileError(f"{spec}: nodes is {_show(entries)}, not a list of layers")
    nodes = [_load_node(spec, i, entry, arrays) for i, entry in enumerate(entries)]
    try:
        return Network(tuple(nodes), doc.get("outputs"), doc.get("name", "network"))
    except SpikeforgeError as exc:
        raise ModelFileError(f"{folder}: {exc}") from None
