"""Every generic read of spikeforge's files goes through here, as every write goes through
:mod:`spikeforge.outputs`: a versioned JSON document, the arrays of an npz archive, one ``.npy`` array.

The readers trust nothing in the file: a size is checked before the file is read, an archive's
declared array shapes before any array is (and their total against the free memory), arrays are
read with ``allow_pickle=False``, and every refusal is one line naming the file (the caller picks
the error class, e.g. :class:`~spikeforge.errors.ModelFileError` for a saved network or artifact,
:class:`~spikeforge.errors.InvalidDataError` for a data set).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
>>> np.savez(path, w=np.eye(2, dtype=np.float32))
>>> npz_headers(path)
{'w': ((2, 2), dtype('float32'))}
>>> read_npz(path)["w"].tolist()
[[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from spikeforge.errors import InputPathError, ModelFileError, SpikeforgeError
from spikeforge.resources import check_input_file, check_memory, format_bytes

#: Largest ``network.json`` (or other JSON document of a saved folder) read: it holds the
#: structure only, the arrays are in ``arrays.npz``.
MAX_JSON_BYTES = 64 << 20
#: Largest npz archive read; the arrays it declares are also checked against the free memory.
MAX_NPZ_BYTES = 64 << 30
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
        raise ModelFileError(f"{spec}: format is {short_repr(found)}, expected {fmt!r}")
    if doc.get("version") != version:
        raise ModelFileError(f"{spec}: format version {short_repr(doc.get('version'))}, this spikeforge reads {version}")
    return doc


def short_repr(value: Any) -> str:
    """``repr(value)`` shortened for a one-line message.

    Examples
    --------
    >>> short_repr("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (str)"
    """
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({type(value).__name__})"


def _npy_header(f: IO[bytes], stored: int, where: str,
                error: type[SpikeforgeError]) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` of the npy array whose header starts at ``f``'s position, checked against
    the ``stored`` bytes it has (header included); no array data is read.

    Raises
    ------
    error
        Not npy format 1.0, 2.0 or 3.0; Python objects (they would be unpickled); more data
        declared than stored.
    """
    version = npy_format.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise error(f"{where}: npy format version {version}, not 1.0, 2.0 or 3.0")
    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, _, dtype = read(f)
    header_bytes = f.tell()
    if dtype.hasobject:
        raise error(f"{where}: holds Python objects (dtype {dtype}), refused: they would be unpickled")
    nbytes = math.prod(shape) * dtype.itemsize
    if stored < header_bytes + nbytes:
        raise error(f"{where}: declares shape {shape} {dtype} ({format_bytes(nbytes)}) but holds "
                    f"{format_bytes(stored - header_bytes)} (truncated or corrupt)")
    return tuple(shape), dtype


def read_npy(path: str | os.PathLike, what: str = "array", *, error: type[SpikeforgeError] = ModelFileError,
             max_bytes: int = MAX_NPZ_BYTES) -> np.ndarray:
    """The array of the ``.npy`` file ``path``, read with ``allow_pickle=False`` after its header
    was checked against the file's size and the free memory.

    Raises
    ------
    error (ModelFileError by default)
        ``path`` is missing, not a regular file or larger than ``max_bytes``; not an npy file, its
        header corrupt; it holds Python objects, or declares more data than it holds.
    spikeforge.errors.ResourceError
        The array does not fit in the free memory.
    """
    path = _input_file(Path(path), max_bytes, what, error)
    where = f"{what} {path}"
    try:
        with open(path, "rb") as f:
            shape, dtype = _npy_header(f, path.stat().st_size, where, error)
            check_memory(math.prod(shape) * dtype.itemsize, where)
            f.seek(0)
            return npy_format.read_array(f, allow_pickle=False)
    except SpikeforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many kinds on hostile bytes
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{where}: not an .npy array, or truncated ({reason})") from None


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
                entry = f"{what} {path}: entry {short_repr(info.filename)}"
                if not info.filename.endswith(".npy"):
                    raise error(f"{entry} is not an npy array")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise error(f"{entry}: compression method {info.compress_type}, npz uses stored or deflated")
                limit = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO)
                if info.compress_size > size or info.file_size > limit + 1024:
                    raise error(f"{entry}: sizes {info.compress_size} / {info.file_size} bytes do not fit "
                                f"an archive of {size} bytes (corrupt)")
                with archive.open(info) as member:
                    headers[info.filename[:-4]] = _npy_header(member, info.file_size, entry, error)
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
