"""Run a hostile case and classify what spikeforge did with it.

A case's ``setup`` lays its files out in a folder of its own and returns a :class:`Run`: a CLI
command (run as a subprocess) or a snippet of API calls (run in a long-lived worker subprocess,
:mod:`hostile.worker`, so torch is imported once), with what should happen. :func:`run_case`
snapshots the folder (every file by hash), runs the command under a timeout and a memory
limit, and compares.

Outcomes, one per case, the first that applies in this order:

``data lost``      a file or folder that existed before is changed or gone (other than the
                   outputs the command may replace: an earlier spikeforge output, a file the
                   user named as output)
``hung``           no answer within the timeout (size cases must be refused within a shorter one)
``silently wrong`` no error where one is required, a wrong result, a valid request refused, or
                   code from a pickle executed
``traceback``      the CLI printed a traceback or more than one line on stderr, or died of a
                   signal; the API raised something that is not a ``SpikeforgeError``
``left behind``    hidden temporaries (``.NAME.*``) remain, or an output (even a partial one or
                   an empty folder) appeared although the command failed
``clean``          a one-line error where an error is right, or a correct success
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostile.base import Base, cli_command

OUTCOMES = ("clean", "traceback", "silently wrong", "data lost", "hung", "left behind")
PRIORITY = ("data lost", "hung", "silently wrong", "traceback", "left behind")

#: Address-space limit of every subprocess: a runaway allocation fails there instead of taking the
#: shared machine's memory (reported as the MemoryError it raises).
MEMORY_LIMIT = 8 << 30
DEFAULT_TIMEOUT = 60.0
FAST_TIMEOUT = 30.0
#: Files larger than this are compared by size, inode and modification time instead of hash.
HASH_LIMIT = 64 << 20


@dataclass
class Run:
    """What a case runs and what should happen.

    ``argv`` (CLI, the arguments after ``spikeforge``) or ``code`` (API: Python run in the
    worker with ``D`` = the case folder, ``F`` = the loaded fixtures, ``expect(cond, msg)`` to
    flag a wrong result). ``expect`` is ``"error"``, ``"success"`` or ``"either"``.
    """

    argv: list[str] | None = None
    code: str | None = None
    expect: str = "error"
    check: Callable[[Path, dict[str, Any]], str | None] | None = None
    cwd: Path | None = None
    replaceable: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    forbidden: tuple[Path, ...] = ()
    fast: bool = False
    timeout: float | None = None
    cleanup: Callable[[], None] | None = None
    skip: str | None = None

    @property
    def kind(self) -> str:
        return "cli" if self.argv is not None else "api"

    def command(self) -> str:
        """The command as text; a non-UTF-8 name (a surrogate escape) is shown as ``\\udcff`` so the
        results can be written."""
        if self.argv is not None:
            text = "spikeforge " + shlex.join(self.argv)
        else:
            text = " ; ".join(line.strip() for line in (self.code or "").strip().splitlines() if line.strip())
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Ctx:
    """A case's folder and the valid inputs it may copy from."""

    def __init__(self, folder: Path, base: Base) -> None:
        self.dir = folder
        self.base = base

    def copy(self, name: str, as_: str | None = None) -> Path:
        """Copy base fixture ``name`` (file or folder) into the case folder; return its path."""
        src, dst = self.base[name], self.dir / (as_ or name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copyfile(src, dst)
        return dst

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def path(self, name: str) -> Path:
        return self.dir / name


@dataclass(frozen=True)
class Case:
    """A named hostile case of an input class; ``setup(ctx)`` lays it out and returns its Run."""

    cls: str
    name: str
    setup: Callable[[Ctx], Run]
    quick: bool = False

    @property
    def id(self) -> str:
        return f"{self.cls}/{self.name}"


# --------------------------------------------------------------------------------------------
# snapshots


def _entry(path: Path) -> tuple:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if not stat.S_ISREG(st.st_mode) or st.st_size > HASH_LIMIT:
        return ("special", stat.S_IFMT(st.st_mode), st.st_size, st.st_ino, st.st_mtime_ns)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return ("file", h.hexdigest())


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (relative path → kind and content hash), links not followed."""
    result: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(folder, name)
            try:
                result[str(p.relative_to(root))] = _entry(p)
            except OSError as exc:
                result[str(p.relative_to(root))] = ("unreadable", exc.errno)
    return result


def _under(rel: str, prefixes: tuple[str, ...]) -> bool:
    return any(rel == p or rel.startswith(p + os.sep) for p in prefixes)


def compare(root: Path, before: dict[str, tuple], after: dict[str, tuple], run: Run,
            failed: bool) -> tuple[list[str], list[str]]:
    """(lost, left): user entries changed or gone; temporaries or outputs left behind."""
    replaceable = tuple(str(p.relative_to(root)) for p in run.replaceable if _inside(p, root))
    outputs = tuple(str(p.relative_to(root)) for p in run.outputs if _inside(p, root))
    lost = [rel for rel, entry in before.items()
            if not _under(rel, replaceable) and after.get(rel) != entry]
    left = []
    new = sorted(rel for rel in after if rel not in before)
    reported: list[str] = []
    for rel in new:
        if _under(rel, tuple(reported)):
            continue
        name = os.path.basename(rel)
        parent = os.path.dirname(rel)
        in_output = _under(parent, outputs + replaceable) if parent else False
        # the marker of an output folder: in a declared output, or in a folder that is new
        marker = name == ".spikeforge" and (in_output or (bool(parent) and parent not in before))
        if name.startswith(".") and not marker:
            left.append(f"hidden leftover {rel}")
            reported.append(rel)
        elif failed and not _under(rel, replaceable):
            left.append(f"written despite the error: {rel}")
            reported.append(rel)
    return lost, left


def _inside(p: Path, root: Path) -> bool:
    try:
        p.relative_to(root)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# running


def subprocess_env(src: str | None = None, cache: str | None = None) -> dict[str, str]:
    """Environment of the case subprocesses: one thread, the source tree under test first."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve())] +
                                            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="160", PYTHONHASHSEED="0",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("FORCE_COLOR", None)
    if cache:
        env["SPIKEFORGE_CACHE"] = cache
    return env


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_cli(run: Run, cwd: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    start = time.monotonic()
    proc = subprocess.Popen(cli_command() + run.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_limits)
    try:
        out, err = proc.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        hung = True
    return {"returncode": None if hung else proc.returncode, "hung": hung,
            "stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"),
            "seconds": time.monotonic() - start}


class ApiWorker:
    """A worker subprocess that runs API snippets one at a time (restarted after a hang or crash)."""

    def __init__(self, base: Base, env: dict[str, str], log: Path | None = None) -> None:
        self.base, self.env, self.log = base, env, log
        self.proc: subprocess.Popen | None = None
        self._buf = b""

    def _start(self) -> None:
        worker = Path(__file__).with_name("worker.py")
        errlog = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-u", str(worker), str(self.base.dir)], env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                     start_new_session=True, preexec_fn=_limits,
                                     cwd=str(self.base.dir))
        if self.log:
            errlog.close()
        self._buf = b""
        ready = self._read_line(300)
        if ready is None or json.loads(ready).get("ready") is not True:
            self.close()
            raise RuntimeError(f"API worker did not start: {ready!r}")

    def _read_line(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None  # the worker died
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def run(self, code: str, cwd: Path, timeout: float) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        start = time.monotonic()
        self.proc.stdin.write((json.dumps({"code": code, "cwd": str(cwd)}) + "\n").encode())
        self.proc.stdin.flush()
        line = self._read_line(timeout)
        seconds = time.monotonic() - start
        if line is None:
            died = self.proc.poll() is not None
            code_ = self.proc.returncode
            self.close()
            if died:
                return {"status": "died", "returncode": code_, "seconds": seconds}
            return {"status": "hung", "seconds": seconds}
        result = json.loads(line)
        result["seconds"] = seconds
        return result

    def close(self) -> None:
        if self.proc is not None:
            _kill(self.proc)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None


class InProcess:
    """Runs API snippets in this process (the fast test subset): same answers as :class:`ApiWorker`,
    without a timeout; not for size cases (``Run.fast``), which could take this process's memory."""

    def __init__(self, base: Base) -> None:
        from hostile.worker import Fixtures

        self.fixtures = Fixtures(base.dir)

    def run(self, code: str, cwd: Path, timeout: float) -> dict[str, Any]:
        from hostile.worker import run_snippet

        start = time.monotonic()
        old = os.getcwd()
        os.chdir(cwd)
        try:
            result = run_snippet(code, cwd, self.fixtures)
        finally:
            os.chdir(old)
        result["seconds"] = time.monotonic() - start
        return result

    def close(self) -> None:
        pass


#: ``spikeforge COMMAND: error: ...`` (``spikeforge events frames: error: ...`` for a subcommand's
#: arguments), or ``spikeforge: error: ...`` when there is no valid command
_ERROR_LINE = re.compile(r"^spikeforge( [\w-]+){0,2}: error: ")


def _first(text: str, limit: int = 300) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:limit] if lines else ""


def _traceback_summary(stderr: str) -> str:
    """The exception line of a traceback (its last line) and the innermost spikeforge frame."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    frames = [line.strip() for line in lines if line.strip().startswith('File "')]
    ours = [f for f in frames if "spikeforge" in f and "site-packages" not in f]
    where = ours[-1] if ours else (frames[-1] if frames else "")
    where = re.sub(r'File ".*?/(spikeforge/[^"]+)"', r"\1", where)
    return lines[-1][:300] + (f"  [at {where[:200]}]" if where else "")


def classify_cli(run: Run, r: dict[str, Any], case_dir: Path) -> tuple[str | None, str]:
    """(problem or None, detail) from the CLI's exit status and stderr."""
    err_lines = [line for line in r["stderr"].splitlines() if line.strip()]
    if r["hung"]:
        return "hung", f"no answer in {r['seconds']:.0f} s"
    rc = r["returncode"]
    if rc < 0:
        return "traceback", f"killed by signal {-rc} ({signal.Signals(-rc).name})" + \
            (f"; {_traceback_summary(r['stderr'])}" if err_lines else "")
    if rc == 0:
        if run.expect == "error":
            return "silently wrong", "exit 0 where an error is required" + \
                (f" (stderr: {_first(r['stderr'], 200)})" if err_lines else "")
        if run.expect in ("success", "either") and run.check is not None:
            wrong = run.check(case_dir, r)
            if wrong:
                return "silently wrong", f"wrong result: {wrong}"
        return None, "success"
    if "Traceback (most recent call last)" in r["stderr"]:
        return "traceback", _traceback_summary(r["stderr"])
    if len(err_lines) != 1:
        return "traceback", f"{len(err_lines)} lines on stderr (exit {rc}): " + \
            " | ".join(line[:160] for line in err_lines[:3])
    line = err_lines[0]
    if not _ERROR_LINE.match(line):
        return "traceback", f"stderr line is not 'spikeforge CMD: error: ...' (exit {rc}): {line[:300]}"
    if run.expect == "success":
        return "silently wrong", f"valid request refused: {line[:300]}"
    return None, line[:300]


def classify_api(run: Run, r: dict[str, Any]) -> tuple[str | None, str]:
    status = r["status"]
    if status == "hung":
        return "hung", f"no answer in {r['seconds']:.0f} s"
    if status == "died":
        return "traceback", f"the worker process died (exit {r.get('returncode')})"
    if status == "wrong":
        return "silently wrong", f"wrong result: {r['message']}"
    if status == "ok":
        if run.expect == "error":
            return "silently wrong", "returned normally where an error is required" + \
                (f" ({r['message']})" if r.get("message") else "")
        return None, "success"
    # raised
    detail = f"{r['type']}: {r['message']}" + (f"  [at {r['where']}]" if r.get("where") else "")
    if not r["spikeforge_error"]:
        return "traceback", detail
    if run.expect == "success":
        return "silently wrong", f"valid request refused: {detail}"
    return None, detail


def run_case(case: Case, base: Base, root: Path, *, env: dict[str, str], worker: ApiWorker | InProcess | None = None,
             timeout: float = DEFAULT_TIMEOUT, fast_timeout: float = FAST_TIMEOUT,
             keep: bool = False, fast_worker: ApiWorker | None = None) -> dict[str, Any]:
    """Set ``case`` up in a fresh folder under ``root``, run it, classify it; a JSON-ready dict.

    API snippets run in ``worker``; size cases (``Run.fast``) in ``fast_worker`` when given (a
    subprocess with a memory limit, when ``worker`` runs in this process)."""
    case_dir = root / case.id.replace("/", "__")
    if case_dir.exists():
        _force_rmtree(case_dir)
    case_dir.mkdir(parents=True)
    record: dict[str, Any] = {"id": case.id, "class": case.cls, "name": case.name, "quick": case.quick}
    run: Run | None = None
    try:
        try:
            run = case.setup(Ctx(case_dir, base))
        except Exception as exc:  # a generator's own bug: report it, do not count the case
            record.update(outcome="setup failed", detail=f"{type(exc).__name__}: {exc}")
            return record
        record.update(kind=run.kind, command=run.command(), expect=run.expect,
                      cwd=str((run.cwd or case_dir).relative_to(root)))
        if run.skip:
            record.update(outcome="skipped", detail=run.skip)
            return record
        before = snapshot(case_dir)
        limit = run.timeout or (fast_timeout if run.fast else timeout)
        cwd = run.cwd or case_dir
        if run.kind == "cli":
            r = run_cli(run, cwd, env, limit)
            problem, detail = classify_cli(run, r, case_dir)
            record.update(returncode=r["returncode"], seconds=round(r["seconds"], 2),
                          stderr=r["stderr"][-1500:], stdout_tail=r["stdout"][-400:])
            failed = r["hung"] or r["returncode"] != 0
        else:
            w = fast_worker if (run.fast and fast_worker is not None) else worker
            if w is None:
                raise RuntimeError("an API case needs a worker")
            r = w.run(run.code, cwd, limit)
            problem, detail = classify_api(run, r)
            record.update(seconds=round(r["seconds"], 2), result={k: v for k, v in r.items() if k != "seconds"})
            failed = r["status"] != "ok"
        if run.cleanup:
            run.cleanup()
        after = snapshot(case_dir)
        lost, left = compare(case_dir, before, after, run, failed)
        problems = []
        if lost:
            problems.append(("data lost", "changed or gone: " + ", ".join(lost[:6]) +
                             (f" (+{len(lost) - 6} more)" if len(lost) > 6 else "")))
        if problem:
            problems.append((problem, detail))
        executed = [p for p in run.forbidden if p.exists() or p.is_symlink()]
        if executed:
            problems.append(("silently wrong", "pickled code ran: it wrote " +
                             ", ".join(str(p.relative_to(case_dir)) for p in executed)))
        if left:
            problems.append(("left behind", "; ".join(left[:6]) + (f" (+{len(left) - 6} more)" if len(left) > 6 else "")))
        outcome = next((p for p in PRIORITY if any(k == p for k, _ in problems)), "clean")
        record.update(outcome=outcome, detail=next((d for k, d in problems if k == outcome), detail),
                      problems=[{"outcome": k, "detail": d} for k, d in problems])
        return record
    finally:
        if run is not None and run.cleanup:
            try:
                run.cleanup()
            except Exception:
                pass
        if not keep and case_dir.exists():
            _force_rmtree(case_dir)


def _force_rmtree(path: Path) -> None:
    """Remove a case folder, lifting the immutable flag and read-only modes cases set."""
    def onerror(func, p, exc_info):
        try:
            subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
            os.chmod(p, 0o700)
            parent = os.path.dirname(p)
            os.chmod(parent, 0o700)
            func(p)
        except Exception:
            pass

    shutil.rmtree(path, onerror=onerror)
    if path.exists():
        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Tally:
    """Counts per input class and outcome."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, cls: str, outcome: str) -> None:
        row = self.rows.setdefault(cls, {"tried": 0, **{o: 0 for o in OUTCOMES}})
        if outcome in OUTCOMES:
            row["tried"] += 1
            row[outcome] += 1

    def total(self) -> dict[str, int]:
        total = {"tried": 0, **{o: 0 for o in OUTCOMES}}
        for row in self.rows.values():
            for k, v in row.items():
                total[k] += v
        return total

