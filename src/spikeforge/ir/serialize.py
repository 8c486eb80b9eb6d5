"""Save and load a :class:`~spikeforge.ir.network.Network`: JSON structure + npz arrays.

A saved network is a folder holding ``network.json`` (format name and version, node types and
attributes) and ``arrays.npz`` (every array, loaded with ``allow_pickle=False``). Writes are
atomic: the folder is built under a temporary name and renamed into place, so a failed save
leaves nothing partial and an existing folder is only replaced once the new one is complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.errors import ModelFileError, OutputPathError, SpikeforgeError
from spikeforge.ir.network import NODE_TYPES, Network, Node

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


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"array"}:
        return arrays[value["array"]]
    if isinstance(value, list):
        return tuple(_decode(v, arrays) for v in value)
    return value


#: Written into every output folder; only a folder holding it (or an empty one, or a network folder of an
#: earlier version) is ever replaced.
OUTPUT_MARKER = ".spikeforge"


def with_umask_mode(path: str | os.PathLike, mode: int) -> None:
    """Give ``path`` ``mode`` less the process umask: ``tempfile`` creates owner-only entries, but an
    output should have the permissions any other new file or folder of the user gets."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextmanager
def _refused_by_system(path: Path) -> Iterator[None]:
    """The system's refusal of an output path (permissions, a name too long, a full disk) as an
    :class:`OutputPathError` naming the path and the reason."""
    try:
        yield
    except OSError as exc:
        raise OutputPathError(f"output {path}: cannot write ({exc.strerror})") from None


def check_output_folder(dest: str | os.PathLike) -> Path:
    """``dest`` as a Path if a new output folder may be written there, else raise.

    Raises
    ------
    OutputPathError
        ``dest`` is a file, contains or is the working directory, or is a non-empty folder that
        spikeforge did not write (no ``.spikeforge`` marker, no ``network.json``), or the system
        refuses the path (e.g. a name too long).
    """
    dest = Path(dest)
    with _refused_by_system(dest):
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise OutputPathError(f"output {dest}: exists and is a file or a link, not a folder; choose another path")
        if dest.is_dir():
            if Path.cwd().resolve().is_relative_to(dest.resolve()):
                raise OutputPathError(f"output {dest}: is the working directory or holds it; choose a new folder")
            entries = sum(1 for _ in dest.iterdir())
            # Outputs of versions before the marker are known by their network.json (own or in snn/).
            ours = any((dest / name).is_file() for name in (OUTPUT_MARKER, "network.json", "snn/network.json"))
            if entries and not ours:
                raise OutputPathError(f"output {dest}: a folder of {entries} entries that spikeforge did not write "
                                      f"(no {OUTPUT_MARKER} marker); choose another path or empty it")
    return dest


def atomic_directory(dest: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Build a folder with ``fill(tmp)`` and move it to ``dest`` only if that succeeded.

    ``dest`` may be new, empty, or an earlier spikeforge output (it holds the ``.spikeforge``
    marker this writes); that is replaced only after the new folder is complete. On any error the
    temporary folder is removed and ``dest`` is untouched.

    Raises
    ------
    OutputPathError
        See :func:`check_output_folder`; checked before ``fill`` runs.
    """
    dest = check_output_folder(dest)
    with _refused_by_system(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with_umask_mode(tmp, 0o777)
        fill(tmp)
        (tmp / OUTPUT_MARKER).write_text("spikeforge output folder: the next run writing here replaces it whole\n")
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.replace(dest, old / "x")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a file may be written there (missing parent folders are made when
    it is written, as for output folders), else raise.

    Raises
    ------
    OutputPathError
        ``path`` is a folder, a file stands where one of its parent folders would be, or the
        system refuses the path (e.g. a name too long).
    """
    out = Path(path)
    with _refused_by_system(out):
        if out.is_dir():
            raise OutputPathError(f"output {out}: is a folder; name a file")
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"output {out}: {parent} is a file, not a folder")
    return out


def _json_builtin(value: Any) -> Any:
    """numpy scalars and arrays as the Python numbers and lists ``json`` writes."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike, doc: Any) -> Path:
    """Write ``doc`` as JSON to ``path`` through a temporary file, so a failure leaves no partial
    file; numpy numbers and arrays are written as plain numbers and lists.

    Raises
    ------
    OutputPathError
        See :func:`check_output_file`; also when the folder cannot be made or written (permissions,
        disk full), with the system's reason.
    """
    out = check_output_file(path)
    with _refused_by_system(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with_umask_mode(tmp, 0o666)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, default=_json_builtin)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


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


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict stored beside a saved network."""
    return _read_doc(Path(path))["metadata"]


def read_versioned_json(folder: Path, filename: str, fmt: str, version: int,
                        what: str) -> dict[str, Any]:
    """Read ``folder/filename``: a JSON object with ``"format": fmt`` and ``"version": version``.

    ``what`` names the kind of folder in the error for a missing file (e.g. ``"a spikeforge
    artifact"``).

    Raises
    ------
    ModelFileError
        The file is missing, not valid JSON, or of another format or version.
    """
    spec = folder / filename
    if not spec.is_file():
        raise ModelFileError(f"{folder}: not {what} (no {filename})")
    try:
        doc = json.loads(spec.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{spec}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ModelFileError(f"{spec}: format is {doc.get('format') if isinstance(doc, dict) else None!r}, "
                             f"expected {fmt!r}")
    if doc.get("version") != version:
        raise ModelFileError(f"{spec}: format version {doc.get('version')!r}, this spikeforge reads {version}")
    return doc


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the npz file ``path``, loaded with ``allow_pickle=False``.

    Raises whatever :func:`numpy.load` raises (``OSError``, ``ValueError``,
    ``zipfile.BadZipFile``); callers wrap it in their own :class:`ModelFileError`.
    """
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _read_doc(folder: Path) -> dict[str, Any]:
    doc = read_versioned_json(folder, "network.json", FORMAT, VERSION, "a saved spikeforge network")
    doc.setdefault("metadata", {})
    return doc


def load_network(path: str | os.PathLike) -> Network:
    """Load a network saved by :func:`save_network`.

    Raises
    ------
    ModelFileError
        The folder is missing, not a saved network, of another format version, or corrupt.
    """
    folder = Path(path)
    doc = _read_doc(folder)
    try:
        arrays = read_arrays(folder / "arrays.npz")
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{folder / 'arrays.npz'}: cannot read arrays ({exc})") from None
    nodes = []
    for i, entry in enumerate(doc.get("nodes", [])):
        cls = NODE_TYPES.get(entry.get("type"))
        if cls is None:
            raise ModelFileError(f"{folder}: node {i} has unknown type {entry.get('type')!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            kwargs = {k: _decode(v, arrays) for k, v in entry.items() if k != "type" and k in fields}
            nodes.append(cls(**kwargs))
        except KeyError as exc:
            raise ModelFileError(f"{folder}: node {entry.get('name')!r} refers to missing array {exc}") from None
        except TypeError as exc:
            raise ModelFileError(f"{folder}: node {entry.get('name')!r} is malformed ({exc})") from None
    try:
        return Network(tuple(nodes), tuple(doc["outputs"]), doc.get("name", "network"))
    except SpikeforgeError as exc:
        raise ModelFileError(f"{folder}: {exc}") from None
