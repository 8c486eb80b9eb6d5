"""Every file and folder spikeforge writes goes through here, so that nothing of a user's is lost.

Four rules:

1. **Ownership.** A folder is replaced only if it is empty or holds the marker file
   ``.spikeforge`` that every output folder gets, written by this user, and nothing the marker does
   not list among the entries spikeforge wrote (a file the user added later is never lost); never
   because it looks like an output (a ``network.json`` is not proof). A file the user names is
   replaced, as by any program's ``-o``.
2. **Inputs.** An output that is, holds, or lies inside one of the command's inputs is refused
   before any work starts.
3. **Crash safety.** New content is built in a hidden sibling ``.NAME.<hash>.spikeforge-tmp.*``
   that its writer keeps locked (``flock``), then takes the output's place in one atomic step:
   ``rename(2)`` for a file or a new folder, ``renameat2(RENAME_EXCHANGE)`` to swap with an
   earlier folder. Whenever the process is killed or the disk fills, the output path holds the
   complete previous output or the complete new one. Where the file system cannot exchange (not
   Linux, some network file systems), the old folder is renamed aside to
   ``.NAME.<hash>.spikeforge-old.*`` first and the next run restores it if the process died in
   between.
4. **Leftovers.** Before NAME is written, hidden siblings of NAME whose writer is gone (their
   lock can be taken) are removed, and a folder set aside is restored if NAME is missing. Creating
   a temporary, recovering and swapping happen under a lock on the parent folder, so concurrent
   writers never take each other's work for a leftover; the last to finish wins.

Linux's ``renameat2`` exchange has no Python binding, so it is called through ``ctypes`` here.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> out = atomic_directory(root / "run", lambda tmp: (tmp / "a.txt").write_text("1"))
>>> sorted(p.name for p in out.iterdir())
['.spikeforge', 'a.txt']
>>> (root / "mine").mkdir(); _ = (root / "mine" / "thesis.tex").write_text("...")
>>> atomic_directory(root / "mine", lambda tmp: None)
Traceback (most recent call last):
...
spikeforge.errors.OutputPathError: output .../mine: a folder of 1 entries that spikeforge did not write (no .spikeforge marker); choose another path, or empty it first
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from spikeforge.errors import InvalidDataError, OutputPathError

__all__ = ["OUTPUT_MARKER", "atomic_directory", "atomic_file", "check_output_file", "check_output_folder",
           "write_json_atomic"]

#: Written into every output folder; only a folder holding it (or an empty one) is ever replaced.
OUTPUT_MARKER = ".spikeforge"
_MARKER_FORMAT = "spikeforge.output"
#: The marker's text before it listed the entries written (outputs of earlier versions).
_LEGACY_MARKER_TEXT = "spikeforge output folder: the next run writing here replaces it whole\n"

Inputs = Iterable["str | os.PathLike | None"]


@contextmanager
def _refused_by_system(path: Path) -> Iterator[None]:
    """The system's refusal of an output (permissions, a full disk, a read-only or immutable file,
    a name too long) as an :class:`OutputPathError` naming the path and the reason."""
    try:
        yield
    except OSError as exc:
        raise OutputPathError(f"output {path}: cannot write ({exc.strerror or exc})") from None


def _with_umask_mode(path: str | os.PathLike | int, mode: int) -> None:
    """Give ``path`` ``mode`` less the process umask: ``tempfile`` creates owner-only entries, but an
    output should have the permissions any other new file or folder of the user gets."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def resolve_links(path: Path) -> Path | None:
    """``path`` with every link resolved; None if it is a loop of symbolic links."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a link loop: RuntimeError before Python 3.13
        return None


def _check_not_input(out: Path, inputs: Inputs) -> None:
    """Refuse an output that is, holds, or lies inside an existing input path, or is a link loop."""
    target = resolve_links(out)
    if target is None:
        raise OutputPathError(f"output {out}: a loop of symbolic links; choose another path")
    for given in inputs:
        if given is None or not os.path.lexists(given):
            continue  # e.g. a built-in data set name such as 'digits'
        source = resolve_links(Path(given))
        if source is None:
            continue  # a link loop holds no one's data; its reader refuses it
        if target == source or (out.exists() and os.path.samefile(out, source)):
            raise OutputPathError(f"output {out}: is the input {given}; choose another output path")
        if source.is_relative_to(target):
            raise OutputPathError(f"output {out}: holds the input {given} and would replace it; "
                                  "choose another output path")
        if target.is_relative_to(source):
            raise OutputPathError(f"output {out}: lies inside the input {given}; choose a path outside it")


def _check_named(path: str | os.PathLike) -> None:
    if not os.fspath(path):  # Path("") would be the working directory
        raise OutputPathError("output path is empty; name a file or folder")


def check_output_folder(dest: str | os.PathLike, inputs: Inputs = ()) -> Path:
    """``dest`` as a Path if a new output folder may be written there, else raise.

    Raises
    ------
    OutputPathError
        ``dest`` is a file or a link, is or holds the working directory, is a non-empty folder
        without this user's ``.spikeforge`` marker or holding entries the marker does not list, is,
        holds or lies inside one of ``inputs``, or the system refuses the path (e.g. a name too long).
    """
    _check_named(dest)
    dest = Path(dest)
    with _refused_by_system(dest):
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise OutputPathError(f"output {dest}: exists and is a file or a link, not a folder; choose another path")
        _check_not_input(dest, inputs)
        if dest.is_dir():
            if Path.cwd().resolve().is_relative_to(dest.resolve()):
                raise OutputPathError(f"output {dest}: is the working directory or holds it; choose a new folder")
            entries = sum(1 for _ in dest.iterdir())
            written = _written_by_us(dest) if entries else set()  # an empty folder is anyone's
            if written is None:
                raise OutputPathError(f"output {dest}: a folder of {entries} entries that spikeforge did not write "
                                      f"(no {OUTPUT_MARKER} marker); choose another path, or empty it first")
            foreign = sorted(name for name in _entries(dest) if name not in written)
            if foreign:
                raise OutputPathError(f"output {dest}: an earlier output that now also holds {len(foreign)} entries "
                                      f"spikeforge did not write (e.g. {foreign[0]}); move them out or choose "
                                      "another path")
    return dest


def _entries(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (the marker excepted), as relative POSIX paths."""
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.relative_to(folder).as_posix()
            != OUTPUT_MARKER]


def _written_by_us(folder: Path) -> set[str] | None:
    """The entries spikeforge's marker in ``folder`` says it wrote; None if there is no valid marker
    of this user (missing, not a regular file, another user's, or not spikeforge's format)."""
    marker = folder / OUTPUT_MARKER
    try:
        if marker.is_symlink() or not marker.is_file() or marker.stat().st_uid != os.geteuid():
            return None
        text = marker.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if text == _LEGACY_MARKER_TEXT:  # written before markers listed their entries: trusted whole
        return set(_entries(folder))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not (isinstance(doc, dict) and doc.get("format") == _MARKER_FORMAT and isinstance(doc.get("entries"), list)):
        return None
    return {e for e in doc["entries"] if isinstance(e, str)}


def check_folder_writable(folder: str | os.PathLike, what: str) -> None:
    """Refuse, naming ``what``, a ``folder`` in which files cannot be made: the folder, or the
    nearest existing folder above it (where the missing ones would be made), is read-only, immutable
    or another user's, or a file stands in its place. Checked before any work, not when written: a
    command would otherwise fail with part of its output in place. (``access()`` sees immutable
    folders as root too.)

    Raises
    ------
    OutputPathError
        As above.
    """
    parent = Path(folder)
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"{what}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what}: cannot write (folder {parent} is read-only or not ours)")


def check_output_file(path: str | os.PathLike, inputs: Inputs = ()) -> Path:
    """``path`` as a Path if a file may be written there (missing parent folders are made when
    it is written), else raise.

    Raises
    ------
    OutputPathError
        ``path`` is a folder, a file stands where one of its parent folders would be, ``path`` is
        or lies inside one of ``inputs``, the folder it goes into or the file it replaces cannot be
        written (read-only, immutable, another user's), or the system refuses the path (e.g. a name
        too long).
    """
    _check_named(path)
    out = Path(path)
    with _refused_by_system(out):
        if out.is_dir():
            raise OutputPathError(f"output {out}: is a folder; name a file")
        if out.exists() and not out.is_file():
            raise OutputPathError(f"output {out}: exists and is not a regular file (a device, FIFO or socket)")
        _check_not_input(out, inputs)
        check_folder_writable(out.parent, f"output {out}")
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputPathError(f"output {out}: cannot write (the file is read-only or immutable)")
    return out


# --- hidden siblings, locks and recovery -------------------------------------------------------

def _sibling_prefix(dest: Path) -> str:
    """Prefix of ``dest``'s hidden siblings; a hash of the full name keeps long names apart."""
    digest = hashlib.sha1(os.fsencode(dest.name)).hexdigest()[:10]
    return f".{dest.name[:64]}.{digest}.spikeforge-"


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock on ``folder`` itself (no lock file to leave behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _writer_gone(path: Path) -> bool:
    """True if no live process holds the lock of the temporary ``path`` (its writer died), so it is a
    leftover. A folder's lock is on its marker, made with it: a folder without one is a leftover."""
    lock = path / OUTPUT_MARKER if path.is_dir() and not path.is_symlink() else path
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _recover(dest: Path) -> None:
    """Restore a folder an interrupted replacement set aside, and remove dead writers' temporaries.
    Call with the parent's lock held."""
    prefix = _sibling_prefix(dest)
    siblings = [p for p in dest.parent.iterdir() if p.name.startswith(prefix)]
    set_aside = [p for p in siblings if p.name.startswith(prefix + "old.")]
    if set_aside and not os.path.lexists(dest):
        os.rename(set_aside.pop(), dest)
    for leftover in siblings:
        if leftover in set_aside or (leftover.name.startswith(prefix + "tmp.") and _writer_gone(leftover)):
            _remove(leftover)


@contextmanager
def _new_parents(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its missing parents; remove those made here again if the body fails."""
    made = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        made.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in made:  # deepest first
            try:
                path.rmdir()
            except OSError:
                break
        raise


@contextmanager
def _locked_temporary(dest: Path, folder: bool) -> Iterator[tuple[Path, int]]:
    """A new hidden sibling of ``dest`` (folder or file) and an fd holding its lock; removed on error.
    Leftovers of earlier runs are recovered first, under the parent's lock. A folder's lock is on
    the marker file it gets at once, not on the folder: writes nested inside it lock the folder
    itself as their parent."""
    with _folder_lock(dest.parent):
        _recover(dest)
        prefix = _sibling_prefix(dest) + "tmp."
        if folder:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
            try:
                fd = os.open(tmp / OUTPUT_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except BaseException:
                _remove(tmp)
                raise
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, dir=dest.parent)
            tmp = Path(name)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        _with_umask_mode(tmp, 0o777 if folder else 0o666)
        yield tmp, fd
    except BaseException:
        _remove(tmp)
        raise
    finally:
        os.close(fd)


_libc = ctypes.CDLL(None, use_errno=True)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically (Linux ``renameat2``); False where the system cannot."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, dest: Path) -> None:
    """Put the complete folder ``tmp`` at ``dest``, and discard the previous output if any.
    Call with the parent's lock held."""
    if not os.path.lexists(dest):
        os.rename(tmp, dest)
        return
    if _exchange(tmp, dest):
        _discard(tmp)  # now the previous output
        return
    # No atomic exchange here: set the old folder aside; _recover restores it after a crash.
    old = dest.parent / f"{_sibling_prefix(dest)}old.{secrets.token_hex(4)}"
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    _discard(old)


def _discard(path: Path) -> None:
    """Remove the previous output once the new one is in place; what a failure here leaves, the next
    run removes, so it does not fail the write."""
    try:
        _remove(path)
    except OSError:
        pass


def atomic_directory(dest: str | os.PathLike, fill: Callable[[Path], None], inputs: Inputs = ()) -> Path:
    """Build a folder with ``fill(tmp)`` and put it at ``dest`` only if that succeeded.

    ``dest`` may be new, empty, or an earlier spikeforge output (it holds the ``.spikeforge``
    marker this writes); that is replaced only once the new folder is complete, in one atomic
    step. On any error or interruption ``dest`` is untouched and nothing is left behind.

    Raises
    ------
    OutputPathError
        See :func:`check_output_folder` (checked before ``fill`` runs, and again before the swap);
        also when the system refuses a write (no space, no permission, read-only), naming the path.
    """
    dest = check_output_folder(dest, inputs)
    with _refused_by_system(dest), _new_parents(dest.parent), _locked_temporary(dest, folder=True) as (tmp, fd):
        fill(tmp)
        # The marker lists what was written: a later run replaces the folder only while it holds no more.
        manifest = {"format": _MARKER_FORMAT, "version": 1,
                    "note": "spikeforge output folder: the next run writing here replaces it whole",
                    "entries": sorted(_entries(tmp))}
        os.write(fd, json.dumps(manifest, indent=1).encode())
        with _folder_lock(dest.parent):
            check_output_folder(dest, inputs)  # a user may have put something there meanwhile
            _swap_in(tmp, dest)
    return dest


def atomic_file(path: str | os.PathLike, write: Callable[[IO[bytes]], None], inputs: Inputs = ()) -> Path:
    """Write the file ``path`` with ``write(binary file)`` through a hidden temporary renamed into
    place, so ``path`` always holds the complete old or the complete new content.

    Raises
    ------
    OutputPathError
        See :func:`check_output_file`; also when the system refuses a write (no space, no
        permission, read-only), naming the path.
    """
    out = check_output_file(path, inputs)
    with _refused_by_system(out), _new_parents(out.parent), _locked_temporary(out, folder=False) as (tmp, fd):
        with os.fdopen(os.dup(fd), "wb") as f:
            write(f)
        os.replace(tmp, out)
    return out


def _json_builtin(value: Any) -> Any:
    """numpy scalars and arrays as the Python numbers and lists ``json`` writes."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike, doc: Any, inputs: Inputs = (), *, strict: bool = False) -> Path:
    """Write ``doc`` as JSON to ``path`` with :func:`atomic_file`; numpy numbers and arrays are
    written as plain numbers and lists. ``strict``: NaN and infinities are refused (standard JSON,
    which other tools read), not written as ``NaN`` / ``Infinity``.

    Raises
    ------
    OutputPathError
        See :func:`atomic_file`.
    InvalidDataError
        ``doc`` holds a value JSON cannot store (with ``strict``, a NaN or an infinity); nothing is written.
    """
    try:
        text = json.dumps(doc, indent=1, default=_json_builtin, allow_nan=not strict).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"output {path}: {exc}; nothing written") from None
    return atomic_file(path, lambda f: f.write(text), inputs)
