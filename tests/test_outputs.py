"""Outputs never destroy a user's files: ownership, inputs, and crash-safe replacement.

The fault-injection tests run a replacement in a subprocess whose audit hook counts every
filesystem mutation (open for writing, mkdir, rename, remove, chmod, the renameat2 call) and, at
the n-th, kills the process with SIGKILL or fails the call with ENOSPC, for every n. After each,
the output path must hold the complete old or the complete new output, and the next run must
leave nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikeforge import outputs
from spikeforge.errors import OutputPathError
from spikeforge.outputs import OUTPUT_MARKER, atomic_directory, atomic_file, check_output_file, write_json_atomic

OLD = {"a.txt": "old a", "b.txt": "old b", "sub/c.txt": "old c"}
NEW = {"a.txt": "new a", "d.txt": "new d", "sub/c.txt": "new c", "sub/e.txt": "new e"}


def _fill(files: dict[str, str]):
    def fill(tmp: Path) -> None:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
    return fill


def _contents(folder: Path) -> dict[str, str] | None:
    if not folder.is_dir():
        return None
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*")
            if p.is_file() and p.name != OUTPUT_MARKER}


# --- ownership -----------------------------------------------------------------------------------

def test_only_marked_or_empty_folders_are_replaced(tmp_path):
    project = tmp_path / "project"
    (project / "snn").mkdir(parents=True)
    (project / "network.json").write_text("{}")  # looks like an output, is the user's
    (project / "snn" / "network.json").write_text("{}")
    (project / "train.py").write_text("print('mine')")
    with pytest.raises(OutputPathError, match=r"project: a folder of 3 entries that spikeforge did not write "
                                              r"\(no \.spikeforge marker\); choose another path, or empty it"):
        atomic_directory(project, _fill(NEW))
    assert (project / "train.py").read_text() == "print('mine')"
    (tmp_path / "empty").mkdir()
    assert _contents(atomic_directory(tmp_path / "empty", _fill(OLD))) == OLD
    assert _contents(atomic_directory(tmp_path / "empty", _fill(NEW))) == NEW  # ours now: it has the marker
    fake = tmp_path / "fake"
    (fake / OUTPUT_MARKER).mkdir(parents=True)  # a marker must be a file
    with pytest.raises(OutputPathError, match="did not write"):
        atomic_directory(fake, _fill(NEW))


@pytest.mark.parametrize("where", ["is", "holds", "inside"])
def test_output_may_not_be_hold_or_lie_inside_an_input(tmp_path, where):
    out = atomic_directory(tmp_path / "out", _fill(OLD))
    model = out / "a.txt"
    output, given = {"is": (out, out), "holds": (out, model), "inside": (out / "snn", out)}[where]
    with pytest.raises(OutputPathError, match=f"{where} the input" if where != "inside" else "lies inside the input"):
        atomic_directory(output, _fill(NEW), inputs=("digits", None, given))
    assert _contents(out) == OLD


def test_file_outputs_refuse_inputs_and_special_files(tmp_path):
    data = tmp_path / "x.npz"
    data.write_bytes(b"data")
    os.link(data, tmp_path / "same.npz")
    for path, message in ((data, "is the input"), (tmp_path / "same.npz", "is the input"),
                          (tmp_path / "x.npz" / "r.json", "lies inside the input")):
        with pytest.raises(OutputPathError, match=message):
            write_json_atomic(path, {}, inputs=(data,))
    net = tmp_path / "net"
    net.mkdir()
    with pytest.raises(OutputPathError, match="lies inside the input"):
        write_json_atomic(net / "arrays.npz", {}, inputs=(net,))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputPathError, match="not a regular file"):
        check_output_file(tmp_path / "fifo")
    assert data.read_bytes() == b"data"


def test_system_refusals_are_one_line_errors(tmp_path):
    if os.geteuid() == 0:  # root ignores permissions; a file where the parent should be fails for all
        blocked = tmp_path / "file"
        blocked.write_text("")
        with pytest.raises(OutputPathError, match="file is a file, not a folder"):
            write_json_atomic(blocked / "r.json", {})
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(OutputPathError, match=r"ro/out: cannot write \(Permission denied\)"):
            atomic_directory(ro / "out", _fill(NEW))


def test_failed_write_removes_the_parents_it_made(tmp_path):
    def fail(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputPathError, match=r"cannot write \(No space left on device\)"):
        atomic_directory(tmp_path / "a" / "b" / "out", fail)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_do_not_remove_each_others_work(tmp_path):
    """A writer's temporary is locked; another run's recovery leaves it alone."""
    dest = tmp_path / "out"
    seen = {}

    def slow_fill(tmp: Path) -> None:
        seen["other"] = atomic_directory(dest, _fill(OLD))  # a second writer runs meanwhile
        seen["tmp_alive"] = tmp.is_dir()
        _fill(NEW)(tmp)

    atomic_directory(dest, slow_fill)
    assert seen["tmp_alive"] and _contents(dest) == NEW  # the last to finish wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- fault injection -----------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import errno, json, os, signal, sys
    from pathlib import Path
    from spikeforge import outputs

    dest, mode, step, kind, exchange = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    files = json.loads(sys.argv[6])
    if exchange == "no":  # a file system without renameat2's exchange: the set-aside path
        outputs._exchange = lambda a, b: False
    count = 0
    MUTATING = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.chmod", "shutil.rmtree",
                "tempfile.mkdtemp", "tempfile.mkstemp", "ctypes.call_function"}

    def hook(event, args):
        global count
        if event == "open":
            path, how, flags = args
            if not (isinstance(how, str) and any(c in how for c in "wax+")) and not (
                    isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                return
        elif event not in MUTATING:
            return
        count += 1
        if count == step:
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, "No space left on device")

    def fill(tmp):
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)

    sys.addaudithook(hook)
    try:
        if kind == "folder":
            outputs.atomic_directory(dest, fill)
        else:
            outputs.atomic_file(dest, lambda f: f.write(files["a.txt"].encode()))
    except Exception as exc:
        print(type(exc).__name__, exc, file=sys.stderr)
        sys.exit(3)
    print(count)
""")


def _run_child(dest: Path, mode: str, step: int, kind: str, exchange: str, files: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(dest), mode, str(step), kind, exchange, json.dumps(files)],
                          capture_output=True, text=True, timeout=120)


def _state(dest: Path, kind: str):
    if kind == "folder":
        return _contents(dest)
    return dest.read_text() if dest.is_file() else None


def _write(dest: Path, kind: str, files: dict, monkeypatch, exchange: str) -> None:
    """A complete write, in this process (the children only run the interrupted one)."""
    with monkeypatch.context() as m:
        if exchange == "no":
            m.setattr(outputs, "_exchange", lambda a, b: False)
        if kind == "folder":
            atomic_directory(dest, _fill(files))
        else:
            atomic_file(dest, lambda f: f.write(files["a.txt"].encode()))


@pytest.mark.parametrize("kind,exchange", [("folder", "yes"), ("folder", "no"), ("file", "yes")])
@pytest.mark.parametrize("mode", ["kill", "enospc"])
def test_replacement_survives_a_kill_or_full_disk_at_every_step(tmp_path, kind, exchange, mode, monkeypatch):
    dest = tmp_path / ("out" if kind == "folder" else "out.json")
    old, new = (OLD, NEW) if kind == "folder" else ("old a", "new a")
    _write(dest, kind, OLD, monkeypatch, exchange)
    counted = _run_child(dest, "count", 0, kind, exchange, NEW)
    assert counted.returncode == 0, counted.stderr
    steps = int(counted.stdout)
    assert steps >= (10 if kind == "folder" else 4)  # the hook does see the filesystem steps
    for step in range(1, steps + 1):
        _write(dest, kind, OLD, monkeypatch, exchange)  # the previous output, complete
        r = _run_child(dest, mode, step, kind, exchange, NEW)
        if mode == "kill":
            assert r.returncode == -signal.SIGKILL, (step, r.stderr)
        elif r.returncode == 0:  # a failure the write can step over (mkdir of a folder that exists)
            assert _state(dest, kind) == new, step
        else:
            assert r.returncode == 3 and "No space left on device" in r.stderr, (step, r.stderr)
            assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name], step  # cleaned up at once
        state = _state(dest, kind)
        if exchange == "no" and state is None:  # killed between the two renames: the next run restores it
            with outputs._folder_lock(dest.parent):
                outputs._recover(dest)
            state = _state(dest, kind)
        assert state in (old, new), (step, state)
        # The next run recovers or removes whatever the interrupted one left, and writes in full.
        _write(dest, kind, NEW, monkeypatch, exchange)
        assert _state(dest, kind) == new
        assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name], (step, list(tmp_path.iterdir()))


def test_cache_naming_a_file_is_refused_before_any_work(tmp_path):
    from spikeforge.explore.cache import SimulationCache

    (tmp_path / "c").write_text("mine")
    with pytest.raises(OutputPathError, match="cache .*c: exists and is not a folder"):
        SimulationCache(tmp_path / "c")
    assert (tmp_path / "c").read_text() == "mine"


def test_writes_nested_inside_an_output_folder(tmp_path):
    """A folder's fill may itself write files atomically into the temporary (artifacts do)."""
    def fill(tmp: Path) -> None:
        write_json_atomic(tmp / "a.json", {"a": 1})
        atomic_directory(tmp / "sub", _fill({"c.txt": "c"}))

    out = atomic_directory(tmp_path / "out", fill)
    assert json.loads((out / "a.json").read_text()) == {"a": 1} and _contents(out / "sub") == {"c.txt": "c"}
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "a.json", "sub"]



def test_an_earlier_output_with_files_added_by_the_user_is_kept(tmp_path):
    out = atomic_directory(tmp_path / "out", _fill(OLD))
    marker = json.loads((out / OUTPUT_MARKER).read_text())
    assert marker["entries"] == ["a.txt", "b.txt", "sub", "sub/c.txt"]
    (out / "sub" / "notes.md").write_text("mine")
    with pytest.raises(OutputPathError, match=r"also holds 1 entries spikeforge did not write \(e.g. sub/notes.md\)"):
        atomic_directory(out, _fill(NEW))
    assert (out / "sub" / "notes.md").read_text() == "mine" and _contents(out)["a.txt"] == "old a"
    (out / "sub" / "notes.md").unlink()
    assert _contents(atomic_directory(out, _fill(NEW))) == NEW


def test_a_marker_not_spikeforges_or_another_users_proves_nothing(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "thesis.tex").write_text("mine")
    (shared / OUTPUT_MARKER).write_text("spikeforge output folder\n")
    with pytest.raises(OutputPathError, match="did not write"):
        atomic_directory(shared, _fill(NEW))
    (shared / OUTPUT_MARKER).write_text(json.dumps({"format": "spikeforge.output", "entries": ["thesis.tex"]}))
    if os.geteuid() == 0:
        os.chown(shared / OUTPUT_MARKER, 65534, 65534)
        with pytest.raises(OutputPathError, match="did not write"):
            atomic_directory(shared, _fill(NEW))
    assert (shared / "thesis.tex").read_text() == "mine"


def test_an_empty_output_name_is_refused(tmp_path):
    for check in (check_output_file, outputs.check_output_folder):
        with pytest.raises(OutputPathError, match="output path is empty"):
            check("")
