"""Generators of hostile inputs for every kind of input spikeforge reads.

Each generator yields :class:`~hostile.runner.Case` objects: an input class, a case name, and a
``setup(ctx)`` that lays the case out in its own folder (copying the valid inputs of
:mod:`hostile.base` and corrupting them) and returns the :class:`~hostile.runner.Run`: a CLI
command or an API snippet, with what should happen (``expect``: ``"error"``, ``"success"``
or ``"either"``), the outputs it may write or replace, and files that must never appear.

Input classes: ``model`` (.pt files), ``data`` (.npz), ``network`` (saved network folders,
float and quantised), ``hardware`` (crossbar and accelerator TOML), ``sdf3`` (XML graphs),
``artifact`` (``spikeforge compile`` folders, ``admit``), ``cli-args`` (counts and options),
``output`` (output paths), ``api`` (public functions given None, wrong types or hostile
values), ``fuzz`` (hypothesis mutations of valid files, run through the API and a few
through the CLI), and the entry points of issues 21–24: ``nir`` (``import``/``export`` and ``.nir``
as a model file), ``events`` (``events info|frames``), ``report`` (``spikeforge report``),
``search`` (``codesign --search nsga2`` and its cache folder), ``new-output`` (where their outputs
go) and ``backends`` (``simulate --neurobench`` / ``--backend sanafe``). :func:`all_cases` lists them all; ``quick=True`` marks the fast subset.

Relative paths in a Run are relative to the case folder (the command's working directory).
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import random
import struct
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hostile.base import GRAPH_THROUGHPUT, GRAPH_XML
from hostile.runner import Case, Ctx, Run

# --------------------------------------------------------------------------------------------
# helpers


class Evil:
    """Pickled, it runs ``exec`` of a line that writes ``marker``: never to be unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pickled code ran')",))


def cli(*argv: Any, expect: str = "error", **kw: Any) -> Run:
    return Run(argv=[str(a) for a in argv], expect=expect, **kw)


def api(code: str, expect: str = "error", **kw: Any) -> Run:
    return Run(code=code, expect=expect, **kw)


def convert_argv(model: str = "model.pt", out: str = "out") -> list[str]:
    return ["convert", model, "--calib", "data.npz", "-o", out, "--calib-samples", "16"]


def quantize_argv(net: str = "snn", out: str = "out") -> list[str]:
    return ["quantize", net, "-o", out]


def compile_argv(model: str = "model.pt", out: str = "out", hw: str = "xbar-mesh", calib: str = "data.npz",
                 T: str = "2") -> list[str]:
    return ["compile", model, "--hw", hw, "--calib", calib, "-o", out, "-T", T, "--partitioner", "tiles",
            "--placer", "fill", "--calib-samples", "16", "--samples", "8"]


def codesign_argv(net: str = "snn", out: str = "out", data: str = "data.npz") -> list[str]:
    return ["codesign", net, "--data", data, "--bits", "8", "-T", "2", "--pes", "16", "-o", out,
            "--samples", "8", "-q"]


def simulate_argv(net: str = "snn", data: str = "data.npz", T: str = "2") -> list[str]:
    return ["simulate", net, "--data", data, "-T", T, "--samples", "16"]


def map_argv(net: str = "snn", hw: str = "xbar-mesh", out: str = "p.json", calib: str = "data.npz",
             T: str = "2") -> list[str]:
    return ["map", net, "--hw", hw, "--calib", calib, "-o", out, "-T", T, "--samples", "8",
            "--partitioner", "tiles", "--placer", "fill"]


def accel_argv(net: str = "snn8", data: str = "data.npz", hw: str = "pynq-z2-accel", T: str = "2") -> list[str]:
    return ["accel", net, "--hw", hw, "--data", data, "-T", T, "--samples", "8"]


def analyse_argv(graph: str = "graph.xml") -> list[str]:
    return ["analyse", graph, "--max-steps", "5"]


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes that takes no disk space (a hole), starting with ``head``."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def special_file(path: Path, kind: str, size: int, head: bytes = b"", thesis: bool = True) -> bool:
    """Put a hostile non-file at ``path``: ``dir`` (a folder, holding a user's thesis when
    ``thesis``), ``fifo``, ``devzero`` (a link to /dev/zero), ``sparse`` (:func:`sparse_file` of
    ``size`` bytes starting with ``head``) or ``loop`` (a link to itself). False for another kind."""
    if kind == "dir":
        path.mkdir()
        if thesis:
            (path / "thesis.tex").write_text("my thesis")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "sparse":
        sparse_file(path, size, head)
    elif kind == "loop":
        path.symlink_to(path.name)
    else:
        return False
    return True


def npy_bytes(shape: tuple[int, ...], dtype: str | list = "<f4", payload: bytes | None = None) -> bytes:
    """An .npy file whose header declares ``shape`` but whose data is only ``payload``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    data = payload if payload is not None else b"\0" * 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def npz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def npz_of(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def rbytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def immutable(path: Path) -> Callable[[], None] | None:
    """Make ``path`` immutable (``chattr +i``: even root cannot write into it); its undo, or None
    when the file system does not support it."""
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if r.returncode != 0:
        return None
    return lambda: subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def into_immutable_folder(ctx: Ctx, argv_for: Callable[[str], list[str]], name: str, keep: bool = False) -> Run:
    """The command of ``argv_for`` writing ``ro/name`` inside an immutable folder (holding a user's
    ``keep.txt`` when ``keep``); skipped where the file system has no immutable flag."""
    ro = ctx.path("ro")
    ro.mkdir()
    if keep:
        (ro / "keep.txt").write_text("keep")
    undo = immutable(ro)
    if undo is None:
        return Run(argv=[], skip="chattr +i not supported here (root ignores read-only modes)")
    return cli(*argv_for(f"ro/{name}"), fast=True, cleanup=undo)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=1))


def toml_dumps(doc: dict[str, Any]) -> str:
    """A minimal TOML writer (strings, numbers incl. nan/inf, booleans, lists, tables)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(type(v))

    lines, tables = [], []
    for k, v in doc.items():
        if isinstance(v, dict) and all(not isinstance(x, dict) for x in v.values()):
            tables.append(f"\n[{k}]")
            tables.extend(f"{kk} = {value(vv)}" for kk, vv in v.items())
        else:
            lines.append(f"{json.dumps(k)} = {value(v)}")
    return "\n".join(lines + tables) + "\n"


def outputs_exist(*names: str) -> Callable[[Path, dict], str | None]:
    def check(case_dir: Path, r: dict) -> str | None:
        missing = [n for n in names if not (case_dir / n).exists()]
        return f"reported success but did not write {', '.join(missing)}" if missing else None
    return check


def network_is_finite(folder: str) -> Callable[[Path, dict], str | None]:
    """Success is right only if ``folder`` holds a network whose arrays are all finite."""
    def check(case_dir: Path, r: dict) -> str | None:
        path = case_dir / folder / "arrays.npz"
        if not path.is_file():
            return f"reported success but {folder}/arrays.npz is missing"
        with np.load(path, allow_pickle=False) as npz:
            bad = [k for k in npz.files if npz[k].dtype.kind == "f" and not np.isfinite(npz[k]).all()]
        return f"wrote a network with NaN/Inf in {', '.join(bad[:4])}" if bad else None
    return check


def draw_examples(strategy, n: int) -> list:
    """``n`` examples of a hypothesis strategy, the same on every run (derandomised)."""
    from hypothesis import HealthCheck, Phase, given, settings

    found: list = []

    @settings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(strategy)
    def collect(example):
        found.append(example)

    collect()
    return found[:n]


def _case(cls: str, name: str, quick: bool = False):
    def wrap(setup: Callable[[Ctx], Run]) -> Case:
        return Case(cls, name, setup, quick)
    return wrap


# --------------------------------------------------------------------------------------------
# model files (.pt)


def _state(ctx: Ctx) -> dict:
    import torch

    return torch.load(ctx.base["bare.pt"], weights_only=True)


def _save(obj: Any, path: Path) -> None:
    import torch

    torch.save(obj, path)


def _model_variants() -> list[tuple[str, Callable[[Ctx, Path], tuple[list[str], list[Path]]], dict]]:
    """(name, write(ctx, path) -> (extra argv, forbidden paths), options)."""
    import torch

    def doc(ctx: Ctx, **changes: Any) -> dict:
        d = {"architecture": "digits-cnn", "options": {}, "state_dict": _state(ctx)}
        d.update(changes)
        return d

    def raw(content: bytes | Callable[[Ctx], bytes]):
        def write(ctx: Ctx, p: Path):
            p.write_bytes(content(ctx) if callable(content) else content)
            return [], []
        return write

    def saved(make: Callable[[Ctx], Any], extra: list[str] | None = None):
        def write(ctx: Ctx, p: Path):
            _save(make(ctx), p)
            return list(extra or []), []
        return write

    def evil(make: Callable[[Ctx, Evil], Any], legacy: bool = False):
        def write(ctx: Ctx, p: Path):
            marker = ctx.path("PICKLED_CODE_RAN")
            obj = make(ctx, Evil(str(marker)))
            if legacy:
                p.write_bytes(pickle.dumps(obj, protocol=2))
            else:
                _save(obj, p)
            return [], [marker]
        return write

    def tensors(change: Callable[[dict], None]):
        def make(ctx: Ctx):
            sd = _state(ctx)
            change(sd)
            return doc(ctx, state_dict=sd)
        return make

    def first_weight(sd: dict) -> str:
        return next(k for k in sd if k.endswith("weight"))

    def special(kind: str):
        def write(ctx: Ctx, p: Path):
            if special_file(p, kind, 8 << 30, b"PK\x03\x04"):
                pass
            elif kind == "npz":
                p.write_bytes(npz_of(x=np.zeros(3)))
            return [], []
        return write

    nan = float("nan")
    return [
        ("empty-file", raw(b""), {"quick": True}),
        ("truncated-half", raw(lambda c: c.base["model.pt"].read_bytes()[: c.base["model.pt"].stat().st_size // 2]), {}),
        ("truncated-16-bytes", raw(lambda c: c.base["model.pt"].read_bytes()[:16]), {}),
        ("random-bytes", raw(rbytes(4096, 1)), {}),
        ("random-bytes-zip-magic", raw(b"PK\x03\x04" + rbytes(4096, 2)), {}),
        ("random-bytes-pickle-magic", raw(b"\x80\x02" + rbytes(4096, 3)), {}),
        ("pickled-code-legacy-pickle", evil(lambda c, e: {"architecture": "digits-cnn", "state_dict": e}, legacy=True),
         {"quick": True}),
        ("pickled-code-in-state-dict", evil(lambda c, e: {"architecture": "digits-cnn", "state_dict": {"w": e}}),
         {"quick": True}),
        ("pickled-code-top-level", evil(lambda c, e: e), {}),
        ("pickled-code-in-options", evil(lambda c, e: {"architecture": "digits-cnn", "options": e,
                                                       "state_dict": _state(c)}), {}),
        ("holds-a-list", saved(lambda c: [1, 2, 3]), {}),
        ("holds-a-tensor", saved(lambda c: torch.ones(3)), {}),
        ("holds-an-int", saved(lambda c: 7), {}),
        ("no-architecture", saved(lambda c: {"options": {}, "state_dict": _state(c)}), {}),
        ("architecture-int", saved(lambda c: doc(c, architecture=42)), {"quick": True}),
        ("architecture-list", saved(lambda c: doc(c, architecture=["digits-cnn"])), {"quick": True}),
        ("architecture-dict", saved(lambda c: doc(c, architecture={"name": "digits-cnn"})), {}),
        ("architecture-empty", saved(lambda c: doc(c, architecture="")), {}),
        ("architecture-unknown", saved(lambda c: doc(c, architecture="resnet9000")), {}),
        ("options-list", saved(lambda c: doc(c, options=[1, 2])), {"quick": True}),
        ("options-string", saved(lambda c: doc(c, options="num_classes=10")), {}),
        ("options-int", saved(lambda c: doc(c, options=5)), {}),
        ("option-unknown-key", saved(lambda c: doc(c, options={"bogus": 1})), {}),
        ("option-wrong-type", saved(lambda c: doc(c, options={"num_classes": "ten"})), {}),
        ("option-nan", saved(lambda c: doc(c, options={"num_classes": nan})), {}),
        ("option-negative", saved(lambda c: doc(c, options={"num_classes": -1})), {"quick": True}),
        ("option-zero", saved(lambda c: doc(c, options={"num_classes": 0})), {}),
        ("option-huge", saved(lambda c: doc(c, options={"num_classes": 10 ** 12})), {"fast": True}),
        ("option-qcfs-levels-string", saved(lambda c: doc(c, options={"qcfs_levels": "x"})), {}),
        ("option-qcfs-levels-zero", saved(lambda c: doc(c, options={"qcfs_levels": 0})), {}),
        ("option-qcfs-levels-nan", saved(lambda c: doc(c, options={"qcfs_levels": nan})), {}),
        ("state-dict-not-a-dict", saved(lambda c: doc(c, state_dict="weights")), {}),
        ("state-dict-non-tensor-values", saved(lambda c: doc(c, state_dict={k: [1.0] for k in _state(c)})), {}),
        ("state-dict-wrong-shapes", saved(tensors(lambda sd: sd.update({k: torch.ones(2) for k in sd}))), {}),
        ("state-dict-missing-key", saved(tensors(lambda sd: sd.pop(first_weight(sd)))), {}),
        ("state-dict-extra-key", saved(tensors(lambda sd: sd.update(zzz=torch.ones(1)))), {}),
        ("state-dict-nan-weights", saved(tensors(lambda sd: sd[first_weight(sd)].fill_(nan))), {"quick": True}),
        ("state-dict-inf-weights", saved(tensors(lambda sd: sd[first_weight(sd)].fill_(float("inf")))), {}),
        ("state-dict-complex-weights", saved(tensors(lambda sd: sd.update(
            {first_weight(sd): sd[first_weight(sd)].to(torch.complex64)}))), {}),
        ("bare-state-dict-no-arch", saved(lambda c: _state(c)), {}),
        ("bare-state-dict-unknown-arch", saved(lambda c: _state(c), ["--arch", "bogus"]), {}),
        ("bare-state-dict-wrong-arch", saved(lambda c: _state(c), ["--arch", "mlp"]), {}),
        ("bare-state-dict-option-no-equals", saved(lambda c: _state(c), ["--arch", "digits-cnn", "--option", "width"]), {}),
        ("bare-state-dict-vgg-width-1000", saved(lambda c: _state(c), ["--arch", "vgg", "--option", "width=1000"]),
         {"fast": True, "quick": True}),
        ("bare-state-dict-mlp-in-features-huge", saved(lambda c: _state(c), ["--arch", "mlp", "--option",
                                                                            "in_features=1000000000000"]), {"fast": True}),
        ("a-folder-of-the-users", special("dir"), {}),
        ("a-fifo", special("fifo"), {"fast": True}),
        ("dev-zero-link", special("devzero"), {"fast": True}),
        ("sparse-8gib-zip-magic", special("sparse"), {"fast": True}),
        ("symlink-loop", special("loop"), {}),
        ("an-npz-not-a-model", special("npz"), {}),
    ]


_MODEL_CONVERT = {"empty-file", "truncated-half", "pickled-code-legacy-pickle", "pickled-code-in-state-dict",
                  "architecture-list", "options-list", "option-negative", "option-huge", "state-dict-nan-weights",
                  "bare-state-dict-vgg-width-1000", "a-fifo", "dev-zero-link"}


def model_cases() -> Iterator[Case]:
    for name, write, opts in _model_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)

        def lay(ctx: Ctx, write=write) -> tuple[list[str], list[Path]]:
            ctx.copy("data.npz")
            return write(ctx, ctx.path("m.pt"))

        def inspect(ctx: Ctx, lay=lay, fast=fast) -> Run:
            extra, forbidden = lay(ctx)
            return cli("inspect", "m.pt", *extra, forbidden=tuple(forbidden), fast=fast)

        def convert(ctx: Ctx, lay=lay, fast=fast) -> Run:
            extra, forbidden = lay(ctx)
            return cli(*convert_argv("m.pt"), *extra, forbidden=tuple(forbidden), fast=fast,
                       outputs=(ctx.path("out"),))

        def load(ctx: Ctx, lay=lay, fast=fast) -> Run:
            extra, forbidden = lay(ctx)
            arch = extra[extra.index("--arch") + 1] if "--arch" in extra else None
            opts_ = dict(o.split("=", 1) for o in extra[1:] if "=" in o) if "--option" in extra else {}
            opts_ = {k: json.loads(v) for k, v in opts_.items()}
            return api("from spikeforge.frontends.model_file import load_model\n"
                       "from spikeforge.frontends.torch_fx import import_torch\n"
                       f"model, shape = load_model(D / 'm.pt', {arch!r}, {opts_!r})\n"
                       "import_torch(model, shape)", forbidden=tuple(forbidden), fast=fast)

        yield Case("model", f"{name}/inspect", inspect, quick and name != "bare-state-dict-vgg-width-1000")
        if name in _MODEL_CONVERT:
            yield Case("model", f"{name}/convert", convert)
        if name != "bare-state-dict-option-no-equals":
            yield Case("model", f"{name}/api-load_model+import", load, quick)
        if name in ("pickled-code-in-state-dict", "architecture-list", "state-dict-nan-weights",
                    "bare-state-dict-vgg-width-1000"):
            def comp(ctx: Ctx, lay=lay, fast=fast) -> Run:
                extra, forbidden = lay(ctx)
                extra = [a for a in extra if a != "--option" and "=" not in a]  # compile takes no --option
                return cli(*compile_argv("m.pt"), *extra, forbidden=tuple(forbidden), fast=fast,
                           outputs=(ctx.path("out"),))

            def codes(ctx: Ctx, lay=lay, fast=fast) -> Run:
                extra, forbidden = lay(ctx)
                extra = [a for a in extra if a not in ("--option",) and "=" not in a]
                return cli(*codesign_argv("m.pt"), "--calib", "data.npz", "--calib-samples", "16", *extra,
                           forbidden=tuple(forbidden), fast=fast, outputs=(ctx.path("out"),))
            yield Case("model", f"{name}/compile", comp)
            yield Case("model", f"{name}/codesign", codes)

    def good_inspect(ctx: Ctx) -> Run:
        ctx.copy("model.pt")
        return cli("inspect", "model.pt", expect="success",
                   check=lambda d, r: None if "Conv2d" in r["stdout"] else "inspect printed no Conv2d layer")

    def good_bare(ctx: Ctx) -> Run:
        ctx.copy("bare.pt")
        return cli("inspect", "bare.pt", "--arch", "digits-cnn", expect="success")

    def good_convert(ctx: Ctx) -> Run:
        ctx.copy("model.pt")
        ctx.copy("data.npz")
        return cli(*convert_argv(), expect="success", outputs=(ctx.path("out"),), check=network_is_finite("out"))

    yield Case("model", "valid-model/inspect", good_inspect, True)
    yield Case("model", "valid-bare-state-dict/inspect", good_bare)
    yield Case("model", "valid-model/convert", good_convert)


# --------------------------------------------------------------------------------------------
# data files (.npz)


def _data_variants() -> list[tuple[str, Callable[[Ctx, Path], None], dict]]:
    """(name, write(ctx, path), options: expect per consumer, fast, quick)."""
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def arrays(**a: Any):
        return lambda ctx, p: p.write_bytes(npz_of(**a))

    def raw(content: bytes | Callable[[Ctx], bytes]):
        return lambda ctx, p: p.write_bytes(content(ctx) if callable(content) else content)

    def with_x(make: Callable[[np.ndarray], np.ndarray], **extra: Any):
        return lambda ctx, p: p.write_bytes(npz_of(x=make(x.copy()), **({"y": y} | extra)))

    def nan_x(a: np.ndarray) -> np.ndarray:
        a[0, 0, 0, 0] = np.nan
        return a

    def inf_x(a: np.ndarray) -> np.ndarray:
        a[1, 0, 2, 2] = np.inf
        return a

    def special(kind: str):
        def write(ctx: Ctx, p: Path) -> None:
            if special_file(p, kind, 16 << 30, b"PK\x03\x04", thesis=False):
                pass
            elif kind == "npy":
                buf = io.BytesIO()
                np.save(buf, x)
                p.write_bytes(buf.getvalue())
        return write

    valid = {"y": y}
    return [
        ("empty-file", raw(b""), {"quick": True}),
        ("truncated-half", raw(lambda c: npz_of(x=x, y=y)[: len(npz_of(x=x, y=y)) // 2]), {}),
        ("random-bytes", raw(rbytes(2048, 5)), {}),
        ("npy-renamed-npz", special("npy"), {"quick": True}),
        ("no-x-array", arrays(y=y), {}),
        ("no-arrays", arrays(), {}),
        ("header-declares-1e9-samples", raw(npz_bytes({"x.npy": npy_bytes((10 ** 9, 1, 8, 8))})),
         {"fast": True, "quick": True}),
        ("header-declares-1e18-elements", raw(npz_bytes({"x.npy": npy_bytes((10 ** 9, 10 ** 9))})), {"fast": True}),
        ("header-corrupt", raw(npz_bytes({"x.npy": b"\x93NUMPY\x01\x00\xff\xff{'descr': <f4"})), {}),
        ("object-dtype", raw(lambda c: _object_npz()), {}),
        ("x-nan", with_x(nan_x), {"quick": True}),
        ("x-inf", with_x(inf_x), {}),
        ("x-float64-overflows-float32", with_x(lambda a: a.astype(np.float64) * 1e39), {}),
        ("x-complex", with_x(lambda a: a.astype(np.complex64)), {}),
        ("x-strings", with_x(lambda a: np.array(["a"] * 16)), {}),
        ("x-1d", with_x(lambda a: a.reshape(-1)), {}),
        ("x-scalar", with_x(lambda a: np.array(3.0)), {}),
        ("x-missing-channel-axis", with_x(lambda a: a[:, 0]), {"quick": True}),
        ("x-wrong-channels", with_x(lambda a: np.repeat(a, 3, axis=1)), {}),
        ("x-wrong-size", with_x(lambda a: np.zeros((16, 1, 9, 9), np.float32)), {}),
        ("x-zero-samples", lambda ctx, p: p.write_bytes(npz_of(x=np.zeros((0, 1, 8, 8), np.float32))), {}),
        ("y-2d", lambda ctx, p: p.write_bytes(npz_of(x=x, y=y[:, None])), {}),
        ("y-wrong-length", lambda ctx, p: p.write_bytes(npz_of(x=x, y=y[:5])), {}),
        ("y-float", lambda ctx, p: p.write_bytes(npz_of(x=x, y=y.astype(np.float32) + 0.5)), {}),
        ("y-out-of-range", lambda ctx, p: p.write_bytes(npz_of(x=x, y=np.full(16, 99))), {"quick": True}),
        ("y-negative", lambda ctx, p: p.write_bytes(npz_of(x=x, y=np.full(16, -1))), {}),
        ("x-all-zero", with_x(lambda a: np.zeros_like(a)), {"either": True}),
        ("x-huge-finite", with_x(lambda a: a * 1e30), {"either": True}),
        ("a-folder", special("dir"), {}),
        ("a-fifo", special("fifo"), {"fast": True}),
        ("dev-zero-link", special("devzero"), {"fast": True}),
        ("sparse-16gib", special("sparse"), {"fast": True}),
    ] + [(f"spec-{s}", None, {"spec": s}) for s in ("digits:bogus", "digits:", "missing.npz")] + \
        [("valid", arrays(x=x, **valid), {"valid": True})]


def _object_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"a": 1}, None], dtype=object))
    return buf.getvalue()


def data_cases() -> Iterator[Case]:
    for name, write, opts in _data_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)
        spec = opts.get("spec", "d.npz")

        def lay(ctx: Ctx, write=write) -> None:
            ctx.copy("model.pt")
            ctx.copy("snn")
            ctx.copy("snn8")
            ctx.copy("data.npz")
            if write is not None:
                write(ctx, ctx.path("d.npz"))

        if opts.get("valid"):
            expect = {"simulate": "success", "convert": "success", "api": "success", "map": "success",
                      "accel": "success", "quantize": "success", "codesign": "success", "compile": "success"}
        elif opts.get("either"):
            # all-zero or huge data are legal inputs: a clean refusal or a correct result
            expect = dict.fromkeys(("simulate", "convert", "api", "map", "accel", "quantize", "codesign",
                                    "compile"), "either")
        else:
            expect = dict.fromkeys(("simulate", "convert", "api", "map", "accel", "quantize", "codesign",
                                    "compile"), "error")
            if name in ("x-missing-channel-axis", "x-wrong-channels", "x-wrong-size"):
                expect.update(api="either")  # a shape is wrong only for a given network
            if name in ("y-out-of-range", "y-negative"):
                # labels are not used by the commands that only profile or calibrate
                expect.update(convert="either", map="either", quantize="either", accel="either", api="either")

        def simulate(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["simulate"]) -> Run:
            lay(ctx)
            return cli(*simulate_argv("snn", spec), expect=e, fast=fast)

        def convert(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["convert"]) -> Run:
            lay(ctx)
            argv = convert_argv()
            argv[argv.index("data.npz")] = spec
            return cli(*argv, expect=e, fast=fast, outputs=(ctx.path("out"),),
                       check=network_is_finite("out"))

        def load(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["api"]) -> Run:
            lay(ctx)
            return api("from spikeforge.datasets import load_data\n"
                       f"d = load_data({spec!r})\n"
                       "import numpy as np\n"
                       "expect(np.isfinite(d.x).all(), 'loaded data holds NaN/Inf')", expect=e, fast=fast)

        yield Case("data", f"{name}/simulate", simulate, quick)
        if name in ("npy-renamed-npz", "header-declares-1e9-samples", "x-nan", "x-missing-channel-axis",
                    "x-all-zero", "x-huge-finite", "a-fifo", "valid"):
            yield Case("data", f"{name}/convert", convert)
        yield Case("data", f"{name}/api-load_data", load, quick)
        if name in ("header-declares-1e9-samples", "x-nan", "x-missing-channel-axis", "y-out-of-range", "valid"):
            def mapc(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["map"]) -> Run:
                lay(ctx)
                return cli(*map_argv(calib=spec), expect=e, fast=fast, outputs=(ctx.path("p.json"),))

            def accel(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["accel"]) -> Run:
                lay(ctx)
                return cli(*accel_argv(data=spec), expect=e, fast=fast)

            def quant(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["quantize"]) -> Run:
                lay(ctx)
                return cli(*quantize_argv(), "--calib", spec, "--calib-samples", "8", "-T", "2", expect=e,
                           fast=fast, outputs=(ctx.path("out"),))

            def codes(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["codesign"]) -> Run:
                lay(ctx)
                return cli(*codesign_argv(data=spec), expect=e, fast=fast, outputs=(ctx.path("out"),))

            def comp(ctx: Ctx, lay=lay, spec=spec, fast=fast, e=expect["compile"]) -> Run:
                lay(ctx)
                return cli(*compile_argv(calib=spec), expect=e, fast=fast, outputs=(ctx.path("out"),))

            yield Case("data", f"{name}/map", mapc)
            yield Case("data", f"{name}/accel", accel)
            yield Case("data", f"{name}/quantize", quant)
            yield Case("data", f"{name}/codesign", codes)
            yield Case("data", f"{name}/compile", comp)


# --------------------------------------------------------------------------------------------
# saved network folders (network.json + arrays.npz)


def _node(doc: dict, type_: str, k: int = 0) -> dict:
    return [n for n in doc["nodes"] if n.get("type") == type_][k]


def _json_edit(change: Callable[[dict], Any]):
    def write(ctx: Ctx, folder: Path) -> None:
        doc = read_json(folder / "network.json")
        change(doc)
        write_json(folder / "network.json", doc)
    return write


def _json_text(text: str | bytes | Callable[[], str]):
    def write(ctx: Ctx, folder: Path) -> None:
        content = text() if callable(text) else text
        (folder / "network.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    return write


def _arrays_edit(change: Callable[[dict], Any]):
    def write(ctx: Ctx, folder: Path) -> None:
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        change(arrays)
        (folder / "arrays.npz").write_bytes(npz_of(**arrays))
    return write


def _deep_json(depth: int) -> str:
    return ('{"format": "spikeforge.network", "version": 1, "name": "x", "outputs": ["a"], "nodes": '
            + "[" * depth + "]" * depth + "}")


def _rename_node(doc: dict, old: str, new: str) -> None:
    for n in doc["nodes"]:
        if n["name"] == old:
            n["name"] = new
        n["inputs"] = [new if i == old else i for i in n["inputs"]]
    doc["outputs"] = [new if o == old else o for o in doc["outputs"]]


def _setattr(type_: str, key: str, value: Any, k: int = 0):
    return _json_edit(lambda d: _node(d, type_, k).__setitem__(key, value))


def _network_variants() -> list[tuple[str, Callable[[Ctx, Path], None], dict]]:
    nan = float("nan")

    def special(kind: str):
        def write(ctx: Ctx, folder: Path) -> None:
            target = folder / ("arrays.npz" if kind.startswith("arrays") else "network.json")
            target.unlink()
            if kind.endswith("devzero"):
                target.symlink_to("/dev/zero")
            elif kind.endswith("dir"):
                target.mkdir()
            elif kind.endswith("fifo"):
                os.mkfifo(target)
            elif kind.endswith("sparse"):
                sparse_file(target, 4 << 30, b"{")
        return write

    def weights(change: Callable[[np.ndarray], np.ndarray], key: str = "0/weight"):
        return _arrays_edit(lambda a: a.__setitem__(key, change(a[key])))

    def lif(beta: Any):
        def change(d: dict) -> None:
            n = _node(d, "IF")
            n["type"] = "LIF"
            n["beta"] = beta
        return _json_edit(change)

    def traversal(ctx: Ctx, folder: Path) -> None:
        doc = read_json(folder / "network.json")
        conv = _node(doc, "Conv2d")
        old = conv["name"]
        new = "../../../ESCAPED"
        _rename_node(doc, old, new)
        conv["weight"] = {"array": f"{new}/weight"}
        conv["bias"] = {"array": f"{new}/bias"}
        write_json(folder / "network.json", doc)
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {(k.replace(f"{old}/", f"{new}/", 1) if k.startswith(f"{old}/") else k): npz[k] for k in npz.files}
        (folder / "arrays.npz").write_bytes(npz_bytes({f"{k}.npy": _npy(v) for k, v in arrays.items()}))

    return [
        ("json-invalid", _json_text("{not json"), {"quick": True}),
        ("json-empty", _json_text(""), {}),
        ("json-list", _json_text("[]"), {}),
        ("json-null", _json_text("null"), {}),
        ("json-binary", _json_text(rbytes(512, 7)), {}),
        ("json-deep-nesting", _json_text(lambda: _deep_json(100_000)), {"quick": True, "fast": True}),
        ("format-wrong", _json_edit(lambda d: d.update(format="other")), {}),
        ("version-string", _json_edit(lambda d: d.update(version="1")), {}),
        ("version-2", _json_edit(lambda d: d.update(version=2)), {}),
        ("nodes-a-dict", _json_edit(lambda d: d.update(nodes={"a": 1})), {}),
        ("nodes-a-string", _json_edit(lambda d: d.update(nodes="abc")), {}),
        ("nodes-missing", _json_edit(lambda d: d.pop("nodes")), {}),
        ("node-an-int", _json_edit(lambda d: d["nodes"].__setitem__(1, 5)), {"quick": True}),
        ("node-type-a-list", _setattr("Conv2d", "type", ["Conv2d"]), {"quick": True}),
        ("node-type-unknown", _setattr("Conv2d", "type", "Attention"), {}),
        ("node-name-an-int", _json_edit(lambda d: _rename_node(d, "3", 3)), {}),
        ("node-inputs-a-string", _setattr("Conv2d", "inputs", "input_1"), {}),
        ("node-inputs-dangling", _setattr("Conv2d", "inputs", ["nope"]), {}),
        ("node-inputs-cycle", _json_edit(lambda d: d["nodes"][1].__setitem__("inputs", [d["outputs"][0]])), {}),
        ("node-names-duplicate", _json_edit(lambda d: _node(d, "Conv2d", 1).__setitem__("name", _node(d, "Conv2d")["name"])), {}),
        ("node-missing-weight", _json_edit(lambda d: _node(d, "Conv2d").pop("weight")), {}),
        ("outputs-unknown-node", _json_edit(lambda d: d.update(outputs=["zzz"])), {}),
        ("outputs-empty", _json_edit(lambda d: d.update(outputs=[])), {}),
        ("outputs-an-int", _json_edit(lambda d: d.update(outputs=7)), {}),
        ("outputs-missing", _json_edit(lambda d: d.pop("outputs")), {"quick": True}),
        ("stride-zero", _setattr("Conv2d", "stride", [0, 0]), {"quick": True}),
        ("stride-negative", _setattr("Conv2d", "stride", [-1, -1]), {}),
        ("stride-strings", _setattr("Conv2d", "stride", ["a", "b"]), {}),
        ("stride-float", _setattr("Conv2d", "stride", [1.5, 1.5]), {}),
        ("stride-scalar", _setattr("Conv2d", "stride", 1), {"either": True}),
        ("stride-three-values", _setattr("Conv2d", "stride", [1, 1, 1]), {}),
        ("padding-negative", _setattr("Conv2d", "padding", [-5, -5]), {}),
        ("padding-huge", _setattr("Conv2d", "padding", [100_000, 100_000]), {"fast": True, "inspect": "either"}),
        ("dilation-zero", _setattr("Conv2d", "dilation", [0, 0]), {}),
        ("groups-zero", _setattr("Conv2d", "groups", 0), {}),
        ("groups-string", _setattr("Conv2d", "groups", "1"), {}),
        ("groups-not-dividing", _setattr("Conv2d", "groups", 3), {}),
        ("pool-kernel-zero", _setattr("AvgPool2d", "kernel", [0, 0]), {"quick": True}),
        ("pool-kernel-huge", _setattr("AvgPool2d", "kernel", [1000, 1000]), {}),
        ("pool-stride-zero", _setattr("AvgPool2d", "stride", [0, 0]), {}),
        ("input-shape-negative", _setattr("Input", "shape", [-1, 8, 8]), {}),
        ("input-shape-zero", _setattr("Input", "shape", [0, 8, 8]), {}),
        ("input-shape-strings", _setattr("Input", "shape", ["a", 8, 8]), {}),
        ("input-shape-huge", _setattr("Input", "shape", [1, 100_000, 100_000]), {"fast": True, "inspect": "either"}),
        ("v-init-above-one", _setattr("IF", "v_init", 5.0), {"quick": True}),
        ("v-init-negative", _setattr("IF", "v_init", -1.0), {}),
        ("v-init-nan", _setattr("IF", "v_init", nan), {}),
        ("v-init-string", _setattr("IF", "v_init", "half"), {}),
        ("v-init-null", _setattr("IF", "v_init", None), {}),
        ("lif-beta-above-one", lif(2.0), {}),
        ("lif-beta-negative", lif(-0.5), {}),
        ("lif-beta-nan", lif(nan), {}),
        ("weight-a-string", _setattr("Conv2d", "weight", "abc"), {"quick": True}),
        ("weight-inline-list", _setattr("Linear", "weight", [[0.1] * 64] * 10), {"either": True}),
        ("weight-array-missing", _setattr("Conv2d", "weight", {"array": "nope"}), {}),
        ("weight-array-key-an-int", _setattr("Conv2d", "weight", {"array": 5}), {}),
        ("weight-nan", weights(lambda w: w * np.nan), {"quick": True}),
        ("weight-inf", weights(lambda w: np.full_like(w, np.inf)), {}),
        ("weight-wrong-shape", weights(lambda w: w.reshape(w.shape[0], -1)), {}),
        ("weight-transposed", weights(lambda w: w.swapaxes(0, 1).copy()), {}),
        ("weight-int-dtype", weights(lambda w: (w * 100).astype(np.int64)), {"either": True}),
        ("weight-complex", weights(lambda w: w.astype(np.complex64)), {}),
        ("weight-0d", weights(lambda w: np.array(1.0, np.float32)), {}),
        ("threshold-zero", weights(lambda t: np.zeros_like(t), "1/threshold"), {"quick": True}),
        ("threshold-negative", weights(lambda t: -np.abs(t) - 1, "1/threshold"), {}),
        ("threshold-nan", weights(lambda t: t * np.nan, "1/threshold"), {}),
        ("array-header-1e12-elements", lambda c, f: (f / "arrays.npz").write_bytes(
            npz_bytes({"0/weight.npy": npy_bytes((10 ** 6, 10 ** 6))})), {"fast": True}),
        ("arrays-corrupt", lambda c, f: (f / "arrays.npz").write_bytes(rbytes(1024, 9)), {"quick": True}),
        ("arrays-truncated", lambda c, f: (f / "arrays.npz").write_bytes((f / "arrays.npz").read_bytes()[:300]), {}),
        ("arrays-empty-file", lambda c, f: (f / "arrays.npz").write_bytes(b""), {}),
        ("arrays-missing", lambda c, f: (f / "arrays.npz").unlink(), {}),
        ("arrays-object-dtype", lambda c, f: (f / "arrays.npz").write_bytes(_object_npz()), {}),
        ("arrays-a-folder", special("arrays-dir"), {}),
        ("arrays-dev-zero", special("arrays-devzero"), {"fast": True}),
        ("network-json-a-folder", special("json-dir"), {}),
        ("network-json-missing", lambda c, f: (f / "network.json").unlink(), {}),
        ("network-json-dev-zero", special("json-devzero"), {"fast": True, "quick": True}),
        ("network-json-fifo", special("json-fifo"), {"fast": True}),
        ("network-json-sparse-4gib", special("json-sparse"), {"fast": True}),
        ("metadata-a-list", _json_edit(lambda d: d.update(metadata=[1])), {"quick": True}),
        ("metadata-quantized-on-float-network", _json_edit(lambda d: d["metadata"].update(quantized="yes")),
         {"inspect": "either", "api": "either"}),
        ("path-traversal-node-name", traversal, {"either": True}),
    ]


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


_NETWORK_API_ONLY = {"json-null", "version-2", "nodes-missing", "node-type-unknown", "node-inputs-dangling",
                     "node-inputs-cycle", "stride-float", "stride-three-values", "groups-string", "pool-kernel-huge",
                     "input-shape-zero", "input-shape-strings", "v-init-negative", "v-init-null", "lif-beta-negative",
                     "weight-inf", "weight-transposed", "weight-complex", "weight-0d", "threshold-nan",
                     "arrays-truncated", "arrays-empty-file", "arrays-a-folder", "network-json-a-folder",
                     "weight-array-key-an-int", "dilation-zero", "outputs-empty"}
_NETWORK_SIMULATE = {"metadata-quantized-on-float-network", "stride-zero", "padding-huge", "groups-not-dividing", "pool-kernel-zero", "input-shape-huge",
                     "v-init-above-one", "v-init-nan", "lif-beta-above-one", "weight-nan", "threshold-zero",
                     "threshold-negative", "weight-int-dtype", "metadata-a-list", "array-header-1e12-elements"}


def network_cases() -> Iterator[Case]:
    for name, write, opts in _network_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)
        base_expect = "either" if opts.get("either") else "error"

        def lay(ctx: Ctx, write=write) -> list[Path]:
            ctx.copy("snn", "net")
            ctx.copy("data.npz")
            write(ctx, ctx.path("net"))
            # a path-traversal name must never reach the file system outside the case
            return [ctx.dir.parent / "ESCAPED", ctx.dir / "ESCAPED"]

        e_inspect = opts.get("inspect", base_expect)

        def inspect(ctx: Ctx, lay=lay, fast=fast, e=e_inspect) -> Run:
            return cli("inspect", "net", expect=e, fast=fast, forbidden=tuple(lay(ctx)))

        def simulate(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
            return cli(*simulate_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)))

        def load(ctx: Ctx, lay=lay, fast=fast, e=opts.get("api", base_expect)) -> Run:  # noqa: B008
            forbidden = lay(ctx)
            return api("from spikeforge.ir.serialize import load_network\n"
                       "from spikeforge.sim.simulator import simulate\n"
                       "net = load_network(D / 'net')\n"
                       "r = simulate(net, F.x[:4], timesteps=2)\n"
                       "import numpy as np\n"
                       "expect(all(np.isfinite(o).all() for o in r.outputs.values()), 'NaN/Inf outputs')",
                       expect=e, fast=fast, forbidden=tuple(forbidden))

        if name not in _NETWORK_API_ONLY:
            yield Case("network", f"{name}/inspect", inspect, quick)
        if name in _NETWORK_SIMULATE:
            yield Case("network", f"{name}/simulate", simulate)
        yield Case("network", f"{name}/api-load_network+simulate", load, quick)
        if name in ("json-deep-nesting", "stride-zero", "metadata-a-list", "input-shape-huge",
                    "path-traversal-node-name"):
            def quant(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
                return cli(*quantize_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)),
                           outputs=(ctx.path("out"),))

            def mapc(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
                return cli(*map_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)),
                           outputs=(ctx.path("p.json"),))

            def accel(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
                return cli(*accel_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)))

            def comp(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
                return cli(*compile_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)),
                           outputs=(ctx.path("out"),))

            def codes(ctx: Ctx, lay=lay, fast=fast, e=base_expect) -> Run:
                return cli(*codesign_argv("net"), expect=e, fast=fast, forbidden=tuple(lay(ctx)),
                           outputs=(ctx.path("out"),))
            yield Case("network", f"{name}/quantize", quant)
            yield Case("network", f"{name}/map", mapc)
            yield Case("network", f"{name}/accel", accel)
            yield Case("network", f"{name}/compile", comp)
            yield Case("network", f"{name}/codesign", codes)

    # quantised network folders: their scales in the metadata
    nan = float("nan")
    qvariants = [
        ("weight-bits-99", {"weight_bits": 99}), ("weight-bits-zero", {"weight_bits": 0}),
        ("weight-bits-string", {"weight_bits": "eight"}), ("input-scale-nan", {"input_scale": nan}),
        ("input-scale-zero", {"input_scale": 0.0}), ("input-scale-negative", {"input_scale": -1.0}),
        ("input-bits-zero", {"input_bits": 0}), ("input-bits-64", {"input_bits": 64}),
        ("membrane-bits-one", {"membrane_bits": 1}), ("output-scales-a-list", {"output_scales": [1.0]}),
        ("output-scales-nan", {"output_scales": {"7": nan}}), ("layer-scales-strings", {"layer_scales": {"0": "x"}}),
        ("threshold-bits-missing", {"threshold_bits": None}),
    ]
    for qname, change in qvariants:
        def qlay(ctx: Ctx, change=change) -> None:
            ctx.copy("snn8", "q")
            ctx.copy("data.npz")
            doc = read_json(ctx.path("q/network.json"))
            doc["metadata"].update(change)
            if change.get("threshold_bits", 0) is None:
                doc["metadata"].pop("threshold_bits")
            write_json(ctx.path("q/network.json"), doc)

        def qsim(ctx: Ctx, qlay=qlay) -> Run:
            qlay(ctx)
            return cli(*simulate_argv("q"))

        def qaccel(ctx: Ctx, qlay=qlay) -> Run:
            qlay(ctx)
            return cli(*accel_argv("q"))

        def qload(ctx: Ctx, qlay=qlay) -> Run:
            qlay(ctx)
            return api("from spikeforge.quantize import load_quantized, simulate_integer\n"
                       "q = load_quantized(D / 'q')\nsimulate_integer(q, F.x[:4], 2)")

        quick = qname in ("input-scale-nan", "output-scales-a-list")
        if qname in ("weight-bits-99", "input-scale-nan", "input-scale-zero", "output-scales-a-list",
                     "layer-scales-strings", "threshold-bits-missing"):
            yield Case("network", f"quantized-{qname}/simulate", qsim, quick)
        if qname in ("weight-bits-99", "input-scale-nan", "output-scales-a-list"):
            yield Case("network", f"quantized-{qname}/accel", qaccel)
        yield Case("network", f"quantized-{qname}/api-load_quantized", qload, quick)

    def good(ctx: Ctx) -> Run:
        ctx.copy("snn", "net")
        ctx.copy("data.npz")
        return cli(*simulate_argv("net"), "--json", "r.json", expect="success", outputs=(ctx.path("r.json"),),
                   check=_simulate_report_ok)
    yield Case("network", "valid-network/simulate", good, True)


def _simulate_report_ok(case_dir: Path, r: dict) -> str | None:
    path = case_dir / "r.json"
    if not path.is_file():
        return "no r.json written"
    doc = json.loads(path.read_text())
    acc = doc.get("accuracy", {})
    if not acc or not all(0.0 <= float(v) <= 1.0 for v in acc.values()):
        return f"accuracy {acc!r} not in [0, 1]"
    return None


# --------------------------------------------------------------------------------------------
# hardware files (TOML)


def _hw_doc(ctx: Ctx, name: str = "xbar.toml") -> dict:
    import tomllib

    return tomllib.loads(ctx.base[name].read_text())


def _hardware_variants() -> list[tuple[str, Callable[[Ctx, Path], None], dict]]:
    nan, inf = float("nan"), float("inf")

    def field(section: str | None, key: str, value: Any):
        def write(ctx: Ctx, p: Path) -> None:
            doc = _hw_doc(ctx)
            target = doc if section is None else doc[section]
            if value is _DELETE:
                target.pop(key)
            else:
                target[key] = value
            p.write_text(toml_dumps(doc))
        return write

    def text(content: str | bytes | Callable[[Ctx], str]):
        def write(ctx: Ctx, p: Path) -> None:
            c = content(ctx) if callable(content) else content
            p.write_bytes(c if isinstance(c, bytes) else c.encode())
        return write

    def special(kind: str):
        def write(ctx: Ctx, p: Path) -> None:
            special_file(p, kind, 2 << 30, b"name = ", thesis=False)
        return write

    def big_board(ctx: Ctx, p: Path) -> None:
        doc = _hw_doc(ctx)
        doc["board"] = {"chips": 10 ** 8, "mesh_x": 10 ** 4, "mesh_y": 10 ** 4}
        p.write_text(toml_dumps(doc))

    def big_chip(ctx: Ctx, p: Path) -> None:
        doc = _hw_doc(ctx)
        doc["chip"] = {"mesh_x": 100_000, "mesh_y": 100_000}
        p.write_text(toml_dumps(doc))

    return [
        ("crossbar-rows-string", field("core", "crossbar_rows", "128"), {"quick": True}),
        ("crossbar-rows-float", field("core", "crossbar_rows", 1.5), {}),
        ("crossbar-rows-bool", field("core", "crossbar_rows", True), {}),
        ("crossbar-rows-list", field("core", "crossbar_rows", [128]), {}),
        ("crossbar-rows-zero", field("core", "crossbar_rows", 0), {"quick": True}),
        ("crossbar-rows-negative", field("core", "crossbar_rows", -1), {}),
        ("crossbar-rows-huge", field("core", "crossbar_rows", 10 ** 9), {"fast": True}),
        ("crossbar-rows-beyond-int64", field("core", "crossbar_rows", 10 ** 30), {}),
        ("crossbars-per-core-zero", field("core", "crossbars_per_core", 0), {}),
        ("crossbars-per-core-huge", field("core", "crossbars_per_core", 10 ** 9), {"fast": True}),
        ("neurons-per-core-zero", field("core", "neurons_per_core", 0), {}),
        ("weight-bits-zero", field("precision", "weight_bits", 0), {}),
        ("weight-bits-1000", field("precision", "weight_bits", 1000), {}),
        ("chip-mesh-zero", field("chip", "mesh_x", 0), {}),
        ("chip-mesh-negative", field("chip", "mesh_x", -4), {}),
        ("chip-mesh-huge", big_chip, {"fast": True, "quick": True}),
        ("board-chips-zero", field("board", "chips", 0), {}),
        ("board-chips-mismatch-mesh", field("board", "chips", 10 ** 8), {}),
        ("board-10^8-chips", big_board, {"fast": True}),
        ("hop-latency-nan", field("noc", "hop_latency_ns", nan), {"quick": True}),
        ("hop-latency-inf", field("noc", "hop_latency_ns", inf), {}),
        ("hop-latency-negative", field("noc", "hop_latency_ns", -1.0), {}),
        ("hop-latency-string", field("noc", "hop_latency_ns", "10"), {}),
        ("bandwidth-zero", field("noc", "link_bandwidth_spikes_per_s", 0.0), {}),
        ("bandwidth-nan", field("noc", "link_bandwidth_spikes_per_s", nan), {}),
        ("topology-unknown", field("noc", "topology", "torus3d"), {}),
        ("crossbar-eval-nan", field("timing", "crossbar_eval_ns", nan), {}),
        ("crossbar-eval-1e308", field("timing", "crossbar_eval_ns", 1e308), {"either": True}),
        ("energy-negative", field("energy", "per_spike_pj", -1.0), {}),
        ("energy-nan", field("energy", "per_spike_pj", nan), {}),
        ("energy-inf", field("energy", "per_hop_pj", inf), {}),
        ("static-power-negative", field("energy", "static_per_chip_w", -1.0), {}),
        ("name-empty", field(None, "name", ""), {}),
        ("name-an-int", field(None, "name", 5), {}),
        ("description-missing", field(None, "description", _DELETE), {"either": True}),
        ("core-section-missing", field(None, "core", _DELETE), {"quick": True}),
        ("core-a-string", field(None, "core", "big"), {}),
        ("unknown-field", field("core", "bogus", 1), {}),
        ("unknown-section", lambda c, p: p.write_text(c.base["xbar.toml"].read_text() + "\n[bogus]\nx = 1\n"), {}),
        ("empty-file", text(""), {}),
        ("not-toml", text("this is = = not toml ["), {}),
        ("json-not-toml", text(lambda c: json.dumps(_hw_doc(c))), {}),
        ("binary", text(rbytes(1024, 11)), {}),
        ("deep-dotted-key", text("a" + ".a" * 50_000 + " = 1\n"), {"fast": True}),
        ("deep-inline-arrays", text("x = " + "[" * 50_000 + "]" * 50_000 + "\n"), {"fast": True}),
        ("a-folder", special("dir"), {}),
        ("a-fifo", special("fifo"), {"fast": True}),
        ("dev-zero-link", special("devzero"), {"fast": True, "quick": True}),
        ("sparse-2gib", special("sparse"), {"fast": True}),
    ]


_DELETE = object()


def _accel_variants() -> list[tuple[str, dict[str, Any]]]:
    nan = float("nan")
    return [("pes-zero", {"pes": 0}), ("pes-negative", {"pes": -1}), ("pes-huge", {"pes": 10 ** 9}),
            ("pes-string", {"pes": "64"}), ("clock-nan", {"clock_mhz": nan}), ("clock-zero", {"clock_mhz": 0.0}),
            ("distribution-unknown", {"distribution": "bogus"}), ("power-negative", {"power_w": -1.0}),
            ("memory-nan", {"on_chip_memory_kib": nan}), ("weight-bits-zero", {"weight_bits": 0}),
            ("pes-missing", {"pes": _DELETE}), ("unknown-field", {"bogus": 1}),
            ("ops-per-cycle-inf", {"ops_per_cycle_per_pe": float("inf")})]


_HW_HUGE = {"crossbar-rows-huge", "crossbars-per-core-huge", "chip-mesh-huge", "board-10^8-chips"}
#: huge but harmless for a small network (a crossbar of 10^9 rows maps it): only a hang is wrong
_HW_HARMLESS = {"crossbar-rows-huge", "crossbars-per-core-huge"}


def hardware_cases() -> Iterator[Case]:
    for name, write, opts in _hardware_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)
        e = "either" if opts.get("either") or name in _HW_HARMLESS else "error"
        # a huge but well-formed board may be shown; it must be refused (fast) when used
        e_show = "either" if name in _HW_HUGE else e

        def lay(ctx: Ctx, write=write) -> None:
            write(ctx, ctx.path("hw.toml"))

        def show(ctx: Ctx, lay=lay, fast=fast, e=e_show) -> Run:
            lay(ctx)
            return cli("hw", "show", "hw.toml", expect=e, fast=fast)

        def load(ctx: Ctx, lay=lay, fast=fast, e=e_show) -> Run:
            lay(ctx)
            return api("from spikeforge.hardware import load_hardware\n"
                       "hw = load_hardware(D / 'hw.toml')\n"
                       "expect(hw.total_crossbars >= 1, 'a board without crossbars')", expect=e, fast=fast)

        yield Case("hardware", f"{name}/hw-show", show, quick)
        yield Case("hardware", f"{name}/api-load_hardware", load, quick)
        if name in ("crossbar-rows-zero", "crossbar-rows-huge", "chip-mesh-huge", "board-10^8-chips",
                    "hop-latency-nan", "crossbar-eval-1e308", "a-fifo"):
            def mapc(ctx: Ctx, lay=lay, fast=fast, e=e) -> Run:
                lay(ctx)
                ctx.copy("snn")
                ctx.copy("data.npz")
                return cli(*map_argv(hw="hw.toml"), expect=e, fast=fast, outputs=(ctx.path("p.json"),))

            def comp(ctx: Ctx, lay=lay, fast=fast, e=e) -> Run:
                lay(ctx)
                ctx.copy("snn")
                ctx.copy("data.npz")
                return cli(*compile_argv("snn", hw="hw.toml"), expect=e, fast=fast, outputs=(ctx.path("out"),))

            # admission never lists a board's crossbars: on a huge board it answers, fast
            def admit(ctx: Ctx, lay=lay, fast=fast, e="either" if name in _HW_HUGE else e) -> Run:
                lay(ctx)
                ctx.copy("app")
                return cli("admit", "app", "--hw", "hw.toml", expect=e, fast=fast)

            def codes(ctx: Ctx, lay=lay, fast=fast, e=e) -> Run:
                lay(ctx)
                ctx.copy("snn")
                ctx.copy("data.npz")
                argv = codesign_argv()
                argv[argv.index("--pes"):argv.index("--pes") + 2] = ["--crossbar-sizes", "64"]
                return cli(*argv, "--hw", "hw.toml", expect=e, fast=fast, outputs=(ctx.path("out"),))
            yield Case("hardware", f"{name}/map", mapc)
            yield Case("hardware", f"{name}/compile", comp)
            yield Case("hardware", f"{name}/admit", admit)
            if name in ("crossbar-rows-zero", "chip-mesh-huge"):
                yield Case("hardware", f"{name}/codesign", codes)

    for name, change in _accel_variants():
        def alay(ctx: Ctx, change=change) -> None:
            doc = _hw_doc(ctx, "accel.toml")
            for k, v in change.items():
                if v is _DELETE:
                    doc.pop(k)
                else:
                    doc[k] = v
            ctx.write("acc.toml", toml_dumps(doc))
            ctx.copy("snn8")
            ctx.copy("data.npz")

        fast = name in ("pes-huge", "ops-per-cycle-inf")
        e = "either" if name == "pes-huge" else "error"  # a big PE array is only a model: it may be shown

        def accel(ctx: Ctx, alay=alay, fast=fast, e=e) -> Run:
            alay(ctx)
            return cli(*accel_argv(hw="acc.toml"), fast=fast, expect=e)

        def aload(ctx: Ctx, alay=alay, fast=fast, e=e) -> Run:
            alay(ctx)
            return api("from spikeforge.hardware.accelerator import load_accelerator\nfrom spikeforge.quantize.accelerator import accelerate\n"
                       "spec = load_accelerator(D / 'acc.toml')\n"
                       "accelerate(F.q, F.x[:4], spec, 2)", fast=fast, expect=e)

        if name in ("pes-zero", "pes-huge", "pes-string", "clock-nan", "distribution-unknown", "pes-missing",
                    "ops-per-cycle-inf"):
            yield Case("hardware", f"accelerator-{name}/accel", accel, name == "pes-zero")
        yield Case("hardware", f"accelerator-{name}/api-load_accelerator", aload, name == "pes-zero")

    def good_show(ctx: Ctx) -> Run:
        ctx.copy("xbar.toml")
        return cli("hw", "show", "xbar.toml", expect="success",
                   check=lambda d, r: None if "128" in r["stdout"] else "the crossbar size 128 is not shown")

    def good_accel(ctx: Ctx) -> Run:
        ctx.copy("accel.toml")
        ctx.copy("snn8")
        ctx.copy("data.npz")
        return cli(*accel_argv(hw="accel.toml"), expect="success")

    def unknown_preset(ctx: Ctx) -> Run:
        return cli("hw", "show", "nope-9000")

    def traversal_preset(ctx: Ctx) -> Run:
        return cli("hw", "show", "../../../../etc/passwd")

    yield Case("hardware", "valid-file/hw-show", good_show, True)
    yield Case("hardware", "valid-accelerator-file/accel", good_accel)
    yield Case("hardware", "unknown-preset/hw-show", unknown_preset, True)
    yield Case("hardware", "etc-passwd/hw-show", traversal_preset)


# --------------------------------------------------------------------------------------------
# SDF3 XML graphs


def _sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def change(text: str) -> str:
        if old not in text:
            raise ValueError(f"{old!r} not in the graph")
        return text.replace(old, new, count)
    return change


def _chain(n: int) -> str:
    """A consistent chain of ``n`` actors (each with a self-loop) closed by a back edge."""
    actors, channels, props = [], [], []
    for i in range(n):
        actors.append(f'<actor name="a{i}" type="t"><port name="s" type="out" rate="1"/>'
                      f'<port name="t" type="in" rate="1"/><port name="o" type="out" rate="1"/>'
                      f'<port name="i" type="in" rate="1"/></actor>')
        channels.append(f'<channel name="s{i}" srcActor="a{i}" srcPort="s" dstActor="a{i}" dstPort="t" initialTokens="1"/>')
        channels.append(f'<channel name="c{i}" srcActor="a{i}" srcPort="o" dstActor="a{(i + 1) % n}" dstPort="i" '
                        f'initialTokens="{1 if i == n - 1 else 0}"/>')
        props.append(f'<actorProperties actor="a{i}"><processor type="p" default="true">'
                     f'<executionTime time="{1 + i % 7}"/></processor></actorProperties>')
    return ('<?xml version="1.0"?>\n<sdf3 type="sdf" version="1.0"><applicationGraph name="chain">'
            f'<sdf name="chain" type="G">{"".join(actors)}{"".join(channels)}</sdf>'
            f'<sdfProperties>{"".join(props)}</sdfProperties></applicationGraph></sdf3>\n')


def _sdf_variants() -> list[tuple[str, Callable[[str], str] | str | bytes | None, dict]]:
    laughs = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{"&lol" + (str(i - 1) if i > 1 else "") + ";" * 1}'
                        f'{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 9}">' for i in range(1, 10))
              + ']>\n<sdf3><applicationGraph><sdf name="&lol9;"/></applicationGraph></sdf3>\n')
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE sdf3 [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
           '<sdf3><applicationGraph><sdf name="&e;"/></applicationGraph></sdf3>\n')
    P_out = '<port name="o1" type="out" rate="1"/>'
    return [
        ("billion-laughs-dtd", laughs, {"quick": True, "fast": True}),
        ("external-entity", xxe, {}),
        ("doctype-lowercase", lambda t: t.replace("<sdf3 ", '<!doctype sdf3>\n<sdf3 ', 1), {}),
        ("rate-10^30", _sub(P_out, '<port name="o1" type="out" rate="1000000000000000000000000000000"/>'),
         {"fast": True, "quick": True}),
        ("rate-10^9-repetitions", _sub(P_out, '<port name="o1" type="out" rate="1000000000"/>'), {"fast": True}),
        ("rates-coprime-huge", lambda t: t.replace(P_out, '<port name="o1" type="out" rate="999999937"/>').replace(
            '<port name="i1" type="in" rate="1"/>', '<port name="i1" type="in" rate="999999929"/>'), {"fast": True}),
        ("rate-zero", _sub(P_out, '<port name="o1" type="out" rate="0"/>'), {}),
        ("rate-negative", _sub(P_out, '<port name="o1" type="out" rate="-1"/>'), {"quick": True}),
        ("rate-float", _sub(P_out, '<port name="o1" type="out" rate="1.5"/>'), {}),
        ("rate-empty", _sub(P_out, '<port name="o1" type="out" rate=""/>'), {}),
        ("time-1e308-on-a-cycle", lambda t: t.replace('time="2"', 'time="1e308"').replace('time="3"', 'time="1e308"'),
         {"either-finite": True}),
        ("time-inf", _sub('time="2"', 'time="inf"'), {}),
        ("time-nan", _sub('time="2"', 'time="nan"'), {"quick": True}),
        ("time-negative", _sub('time="2"', 'time="-5"'), {}),
        ("time-divide-by-zero", _sub('time="2"', 'time="1/0"'), {}),
        ("time-text", _sub('time="2"', 'time="two"'), {}),
        ("time-10^400", _sub('time="2"', 'time="' + "1" + "0" * 400 + '"'), {"either-finite": True}),
        ("tokens-negative", _sub('initialTokens="2"', 'initialTokens="-2"'), {}),
        ("tokens-10^30", _sub('initialTokens="2"', 'initialTokens="1000000000000000000000000000000"'),
         {"fast": True, "either": True}),
        ("token-size-negative", lambda t: t.replace(
            "</sdfProperties>", '<channelProperties channel="ch1"><tokenSize sz="-8"/></channelProperties></sdfProperties>'), {}),
        ("inconsistent-rates", _sub(P_out, '<port name="o1" type="out" rate="2"/>'), {"quick": True}),
        ("deadlock", lambda t: t.replace('initialTokens="2"', 'initialTokens="0"'), {"quick": True}),
        ("missing-actor-name", _sub('<actor name="F" type="t">', '<actor type="t">'), {}),
        ("missing-port-rate", _sub(P_out, '<port name="o1" type="out"/>'), {}),
        ("missing-port-type", _sub(P_out, '<port name="o1" rate="1"/>'), {}),
        ("missing-channel-src", _sub('srcActor="P" srcPort="o1" ', ""), {"quick": True}),
        ("missing-execution-time", _sub('<executionTime time="3"/>', ""), {}),
        ("missing-actor-properties", lambda t: t.replace(
            '<actorProperties actor="C"><processor type="p" default="true"><executionTime time="1"/></processor></actorProperties>', ""), {}),
        ("missing-sdf-element", lambda t: t[:t.index("<sdf ")] + t[t.index("</sdf>") + 6:], {}),
        ("unknown-actor-in-channel", _sub('dstActor="F" dstPort="i1"', 'dstActor="Q" dstPort="i1"'), {}),
        ("unknown-port", _sub('dstActor="F" dstPort="i1"', 'dstActor="F" dstPort="zz"'), {}),
        ("port-used-twice", _sub('srcActor="F" srcPort="o3"', 'srcActor="F" srcPort="o2"'), {}),
        ("port-wrong-direction", _sub('srcActor="P" srcPort="o1"', 'srcActor="P" srcPort="i0"'), {}),
        ("duplicate-actor", _sub('<actor name="C" type="t">', '<actor name="F" type="t">'), {}),
        ("duplicate-channel-name", _sub('name="ch3"', 'name="ch1"'), {}),
        ("static-order-unknown-actor", lambda t: t.replace(
            "</sdf3>", '<spikeforgeMapping><staticOrder processor="0"><fire actor="ZZ"/></staticOrder>'
                       '</spikeforgeMapping></sdf3>'), {}),
        ("binding-unknown-actor", lambda t: t.replace(
            "</sdf3>", '<spikeforgeMapping><binding actor="ZZ" processor="0"/></spikeforgeMapping></sdf3>'),
         {"either": True}),
        ("root-not-sdf3", "<html><body/></html>", {}),
        ("empty-file", "", {}),
        ("not-xml", "actor P -> F", {}),
        ("binary", rbytes(2048, 13), {}),
        ("utf16", GRAPH_XML.encode("utf-16"), {"either": True}),
        ("deep-nesting", "<sdf3>" + "<a>" * 200_000 + "</a>" * 200_000 + "</sdf3>", {"fast": True}),
        ("5000-actor-chain", _chain(5000), {"either": True}),
        ("a-folder", "DIR", {}),
        ("a-fifo", "FIFO", {"fast": True}),
        ("dev-zero-link", "DEVZERO", {"fast": True, "quick": True}),
        ("sparse-4gib", "SPARSE", {"fast": True}),
    ]


def _lay_graph(ctx: Ctx, content: Callable[[str], str] | str | bytes, name: str = "g.xml") -> Path:
    p = ctx.path(name)
    if content == "DIR":
        p.mkdir()
    elif content == "FIFO":
        os.mkfifo(p)
    elif content == "DEVZERO":
        p.symlink_to("/dev/zero")
    elif content == "SPARSE":
        sparse_file(p, 4 << 30, b"<sdf3>")
    elif callable(content):
        p.write_text(content(GRAPH_XML))
    elif isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


def _analyse_json_check(expected: str | None, finite: bool = False) -> Callable[[Path, dict], str | None]:
    def check(case_dir: Path, r: dict) -> str | None:
        path = case_dir / "r.json"
        if not path.is_file():
            return "no r.json written"
        doc = json.loads(path.read_text())
        t = doc.get("throughput")
        from fractions import Fraction

        if expected is not None and (t is None or Fraction(str(t)) != Fraction(expected)):
            return f"throughput {t!r}, expected {expected}"
        value = doc.get("throughput_float")
        if finite and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            return f"throughput {t!r} ({value!r}): not a positive finite number"
        return None
    return check


def sdf3_cases() -> Iterator[Case]:
    for name, content, opts in _sdf_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)
        finite = opts.get("either-finite", False)
        e = "either" if opts.get("either") or finite else "error"

        def analyse(ctx: Ctx, content=content, fast=fast, e=e, finite=finite) -> Run:
            _lay_graph(ctx, content)
            return cli(*analyse_argv("g.xml"), "--json", "r.json", expect=e, fast=fast,
                       outputs=(ctx.path("r.json"),), check=_analyse_json_check(None, finite))

        def load(ctx: Ctx, content=content, fast=fast, e=e, finite=finite) -> Run:
            _lay_graph(ctx, content)
            return api("from spikeforge.dataflow import read_sdf3, throughput\n"
                       "import math\n"
                       "g = read_sdf3(D / 'g.xml')\n"
                       "t = float(throughput(g, exact=True).throughput)\n"
                       "expect(math.isfinite(t) and t > 0, f'throughput {t}')", expect=e, fast=fast)

        yield Case("sdf3", f"{name}/analyse", analyse, quick)
        yield Case("sdf3", f"{name}/api-read_sdf3+throughput", load, quick)
        if name in ("billion-laughs-dtd", "rate-10^30", "time-nan", "deadlock", "dev-zero-link", "5000-actor-chain"):
            def admit(ctx: Ctx, content=content, fast=fast, e=e) -> Run:
                _lay_graph(ctx, content)
                return cli("admit", "g.xml", "--hw", "xbar-mesh", expect=e, fast=fast)
            yield Case("sdf3", f"{name}/admit", admit)

    # the real SDF3 examples (../shared/data/sdf) with their published throughput
    expected = {"sdf_prod_cons.xml": "2/5", "sdf_railroad.xml": "1/4", "sdf_eggs.xml": "1/2",
                "sdf_ConveyorBelt.xml": "1", "sdf_channel_decoder.xml": "1/6", "sdf_multiple_outputs.xml": "2/3",
                "sdf_deadlock.xml": None}
    for fname, tp in expected.items():
        def real(ctx: Ctx, fname=fname, tp=tp) -> Run:
            src = ctx.base["sdf"] / fname
            if not src.is_file():
                return Run(argv=[], skip=f"{src} not found (../shared/data/sdf)")
            ctx.copy(f"sdf/{fname}", fname)
            if tp is None:
                return cli("analyse", fname, "--exact", "--json", "r.json", outputs=(ctx.path("r.json"),))
            return cli("analyse", fname, "--exact", "--json", "r.json", expect="success",
                       outputs=(ctx.path("r.json"),), check=_analyse_json_check(tp))

        def real_api(ctx: Ctx, fname=fname, tp=tp) -> Run:
            src = ctx.base["sdf"] / fname
            if not src.is_file():
                return Run(code="", skip=f"{src} not found (../shared/data/sdf)")
            ctx.copy(f"sdf/{fname}", fname)
            if tp is None:
                return api("from spikeforge.dataflow import read_sdf3, throughput\n"
                           f"throughput(read_sdf3(D / {fname!r}), exact=True)")
            return api("from spikeforge.dataflow import read_sdf3, throughput\nfrom fractions import Fraction\n"
                       f"t = throughput(read_sdf3(D / {fname!r}), exact=True).throughput\n"
                       f"expect(Fraction(t) == Fraction({tp!r}), f'throughput {{t}}, expected {tp}')",
                       expect="success")
        yield Case("sdf3", f"real-{fname}/analyse", real, fname in ("sdf_prod_cons.xml", "sdf_deadlock.xml"))
        yield Case("sdf3", f"real-{fname}/api-throughput", real_api, True)

    def own(ctx: Ctx) -> Run:
        ctx.copy("graph.xml")
        return cli("analyse", "graph.xml", "--exact", "--json", "r.json", expect="success",
                   outputs=(ctx.path("r.json"),), check=_analyse_json_check(GRAPH_THROUGHPUT))
    yield Case("sdf3", "valid-graph/analyse", own, True)


# --------------------------------------------------------------------------------------------
# artifact folders (spikeforge compile) and admission


def _artifact_variants() -> list[tuple[str, Callable[[Ctx, Path], None], dict]]:
    nan = float("nan")

    def doc_edit(change: Callable[[dict], Any]):
        def write(ctx: Ctx, app: Path) -> None:
            doc = read_json(app / "artifact.json")
            change(doc)
            write_json(app / "artifact.json", doc)
        return write

    def setp(path: tuple[str, ...], value: Any):
        def change(doc: dict) -> None:
            target = doc
            for k in path[:-1]:
                target = target[k]
            if value is _DELETE:
                target.pop(path[-1])
            else:
                target[path[-1]] = value
        return doc_edit(change)

    def loihi_spec(doc: dict) -> None:
        import importlib.util

        spec = importlib.util.find_spec("spikeforge")
        doc["hardware"]["spec_toml"] = Path(list(spec.submodule_search_locations)[0], "hardware", "presets",
                                            "loihi.toml").read_text()

    def file_edit(name: str, content: str | bytes | None | Callable[[str], str]):
        def write(ctx: Ctx, app: Path) -> None:
            p = app / name
            if content is None:
                if p.is_dir():
                    import shutil

                    shutil.rmtree(p)
                else:
                    p.unlink()
            elif callable(content):
                p.write_text(content(p.read_text()))
            else:
                p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return write

    def no_tokens(text: str) -> str:
        import re

        return re.sub(r'initialTokens="\d+"', 'initialTokens="0"', text)

    return [
        ("timesteps-zero", setp(("timesteps",), 0), {"quick": True}),
        ("timesteps-negative", setp(("timesteps",), -1), {}),
        ("timesteps-string", setp(("timesteps",), "4"), {}),
        ("timesteps-float", setp(("timesteps",), 4.5), {}),
        ("timesteps-null", setp(("timesteps",), None), {}),
        ("timesteps-nan", setp(("timesteps",), nan), {}),
        ("timesteps-10^30", setp(("timesteps",), 10 ** 30), {"fast": True}),
        ("name-an-int", setp(("name",), 5), {}),
        ("period-string", setp(("schedule", "period_ns"), "abc"), {"quick": True}),
        ("period-nan", setp(("schedule", "period_ns"), nan), {}),
        ("period-negative", setp(("schedule", "period_ns"), -1.0), {}),
        ("period-zero", setp(("schedule", "period_ns"), 0.0), {}),
        ("critical-an-int", setp(("schedule", "critical"), 5), {}),
        ("schedule-missing", setp(("schedule",), _DELETE), {}),
        ("hardware-missing", setp(("hardware",), _DELETE), {}),
        ("hardware-spec-garbage", setp(("hardware", "spec_toml"), "x = = ["), {}),
        ("hardware-spec-an-int", setp(("hardware", "spec_toml"), 5), {}),
        ("hardware-spec-other-chip", doc_edit(loihi_spec), {"reject": True}),
        ("format-wrong", setp(("format",), "other"), {}),
        ("version-2", setp(("version",), 2), {}),
        ("artifact-json-a-list", file_edit("artifact.json", "[]"), {}),
        ("artifact-json-deep", file_edit("artifact.json", "[" * 100_000 + "]" * 100_000), {"fast": True}),
        ("artifact-json-missing", file_edit("artifact.json", None), {}),
        ("graph-missing", file_edit("graph.xml", None), {}),
        ("graph-garbage", file_edit("graph.xml", "<<<"), {}),
        ("application-missing", file_edit("application.xml", None), {"quick": True}),
        ("application-deadlocks", file_edit("application.xml", no_tokens), {"reject": True}),
        ("application-dtd", file_edit("application.xml", lambda t: t.replace(
            "<sdf3", '<!DOCTYPE sdf3 [<!ENTITY a "b">]>\n<sdf3', 1)), {}),
        ("arrays-corrupt", file_edit("arrays.npz", rbytes(512, 17)), {}),
        ("snn-missing", file_edit("snn", None), {}),
        ("snn-network-json-garbage", file_edit("snn/network.json", "{"), {}),
    ]


def _not_admitted(case_dir: Path, r: dict) -> str | None:
    return "admitted" if "admitted" in r["stdout"].replace("rejected", "") else None


def artifact_cases() -> Iterator[Case]:
    for name, write, opts in _artifact_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)

        def lay(ctx: Ctx, write=write) -> None:
            ctx.copy("app")
            write(ctx, ctx.path("app"))

        # an artifact that cannot run as it says may be refused with an error or rejected: never admitted
        e = "either" if opts.get("reject") else "error"

        def admit(ctx: Ctx, lay=lay, fast=fast, e=e) -> Run:
            lay(ctx)
            return cli("admit", "app", "--hw", "xbar-mesh", fast=fast, expect=e, check=_not_admitted)

        def load(ctx: Ctx, lay=lay, fast=fast, e=e) -> Run:
            lay(ctx)
            return api("from spikeforge.artifact import load_artifact\nfrom spikeforge.runtime import Runtime\n"
                       "r = Runtime('xbar-mesh').admit(load_artifact(D / 'app'))\n"
                       "expect(not r.admitted, 'admitted')", fast=fast, expect=e)

        yield Case("artifact", f"{name}/admit", admit, quick)
        yield Case("artifact", f"{name}/api-load_artifact+admit", load, quick)

    def mismatch(hw: str) -> Callable[[Ctx], Run]:
        def setup(ctx: Ctx) -> Run:
            ctx.copy("app")
            return cli("admit", "app", "--hw", hw, expect="either",
                       check=lambda d, r: None if "admitted" not in r["stdout"].replace("rejected", "")
                       else "an artifact compiled for xbar-mesh admitted onto other hardware")
        return setup

    def mismatch_api(hw: str) -> Callable[[Ctx], Run]:
        def setup(ctx: Ctx) -> Run:
            ctx.copy("app")
            return api("from spikeforge.artifact import load_artifact\nfrom spikeforge.runtime import Runtime\n"
                       f"r = Runtime({hw!r}).admit(load_artifact(D / 'app'))\n"
                       "expect(not r.admitted, 'an artifact compiled for xbar-mesh admitted onto other hardware')",
                       expect="either")
        return setup

    for hw in ("loihi", "truenorth"):
        yield Case("artifact", f"hardware-mismatch-{hw}/admit", mismatch(hw), hw == "loihi")
        yield Case("artifact", f"hardware-mismatch-{hw}/api-admit", mismatch_api(hw), hw == "loihi")

    def mismatch_file(ctx: Ctx) -> Run:
        ctx.copy("app")
        doc = _hw_doc(ctx)
        doc["name"] = "my-chip"
        doc["core"].update(crossbar_rows=64, crossbar_columns=64, neurons_per_core=64, max_fan_in_per_neuron=64)
        ctx.write("mine.toml", toml_dumps(doc))
        return cli("admit", "app", "--hw", "mine.toml", expect="either",
                   check=lambda d, r: None if "admitted" not in r["stdout"].replace("rejected", "")
                   else "an artifact for 128x128 crossbars admitted onto 64x64 crossbars")
    yield Case("artifact", "hardware-mismatch-smaller-crossbars/admit", mismatch_file)

    for flag, value, e in (("--min-throughput", "nan", "error"), ("--min-throughput", "-1", "error"),
                           ("--min-throughput", "inf", "error"), ("--min-throughput", "0", "error"),
                           ("--min-throughput", "1e308", "success")):
        def mt(ctx: Ctx, flag=flag, value=value, e=e) -> Run:
            ctx.copy("app")
            check = (lambda d, r: None if "rejected" in r["stdout"] else "an impossible requirement admitted") \
                if e == "success" else None
            return cli("admit", "app", "--hw", "xbar-mesh", flag, value, expect=e, check=check)
        yield Case("artifact", f"min-throughput-{value}/admit", mt, value == "nan")

    def twice(ctx: Ctx) -> Run:
        ctx.copy("app")
        return cli("admit", "app", "app", "app", "--hw", "xbar-mesh", expect="success",
                   check=lambda d, r: None if "admitted" in r["stdout"] else "nothing admitted")
    yield Case("artifact", "valid-artifact-three-times/admit", twice, True)

    def not_artifact(ctx: Ctx) -> Run:
        (ctx.path("mine")).mkdir()
        ctx.write("mine/thesis.tex", "my thesis")
        return cli("admit", "mine", "--hw", "xbar-mesh")
    yield Case("artifact", "a-folder-of-the-users/admit", not_artifact)


# --------------------------------------------------------------------------------------------
# CLI arguments: counts, options, presets


def _args_variants() -> list[tuple[str, list[str], dict]]:
    big = "1000000000"
    sim, mp, comp, acc = simulate_argv(), map_argv(), compile_argv(), accel_argv()
    conv, quant, codes = convert_argv(), quantize_argv(), codesign_argv()

    def with_(argv: list[str], *extra: str) -> list[str]:
        return argv + list(extra)

    def replaced(argv: list[str], flag: str, value: str) -> list[str]:
        a = list(argv)
        a[a.index(flag) + 1] = value
        return a

    return [
        ("simulate-T-0", replaced(sim, "-T", "0"), {"quick": True}),
        ("simulate-T-negative", replaced(sim, "-T", "-1"), {}),
        ("simulate-T-10^9", replaced(sim, "-T", big), {"fast": True, "quick": True}),
        ("simulate-T-not-a-number", replaced(sim, "-T", "eight"), {}),
        ("simulate-samples-0", replaced(sim, "--samples", "0"), {}),
        ("simulate-samples-negative", replaced(sim, "--samples", "-5"), {}),
        ("simulate-samples-10^12", replaced(sim, "--samples", "1000000000000"), {"expect": "success"}),
        ("simulate-batch-size-0", with_(sim, "--batch-size", "0"), {}),
        ("simulate-batch-size-10^12", with_(sim, "--batch-size", "1000000000000"), {"expect": "either", "fast": True}),
        ("simulate-integer-on-float-network", with_(sim, "--integer"), {"expect": "either"}),
        ("map-T-0", replaced(mp, "-T", "0"), {}),
        ("map-T-10^9", replaced(mp, "-T", big), {"fast": True}),
        ("map-chips-0", with_(mp, "--chips", "0"), {}),
        ("map-chips-10^8", with_(mp, "--chips", "100000000"), {"fast": True, "quick": True}),
        ("map-chips-10^12", with_(mp, "--chips", "1000000000000"), {"fast": True}),
        ("map-seed-negative", with_(mp, "--seed", "-1"), {"quick": True}),
        ("map-seed-2^64", with_(mp, "--seed", str(2 ** 64)), {"expect": "either"}),
        ("map-samples-0", replaced(mp, "--samples", "0"), {}),
        ("map-unknown-preset", replaced(mp, "--hw", "loihi-9"), {}),
        ("map-hw-empty", replaced(mp, "--hw", ""), {}),
        ("compile-T-0", replaced(comp, "-T", "0"), {}),
        ("compile-T-10^9", replaced(comp, "-T", big), {"fast": True}),
        ("compile-chips-0", with_(comp, "--chips", "0"), {}),
        ("compile-chips-10^8", with_(comp, "--chips", "100000000"), {"fast": True}),
        ("compile-crossbars-0", with_(comp, "--crossbars", "0"), {"quick": True}),
        ("compile-crossbars-negative", with_(comp, "--crossbars", "-3"), {}),
        ("compile-crossbars-10^9", with_(comp, "--crossbars", big), {"fast": True, "expect": "either"}),
        ("compile-calib-samples-0", replaced(comp, "--calib-samples", "0"), {}),
        ("compile-samples-0", replaced(comp, "--samples", "0"), {}),
        ("compile-unknown-preset", replaced(comp, "--hw", "nope"), {}),
        ("compile-unknown-partitioner", replaced(comp, "--partitioner", "magic"), {}),
        ("accel-T-0", replaced(acc, "-T", "0"), {}),
        ("accel-T-10^9", replaced(acc, "-T", big), {"fast": True}),
        ("accel-pes-0", with_(acc, "--pes", "0"), {"quick": True}),
        ("accel-pes-negative", with_(acc, "--pes", "-4"), {}),
        ("accel-pes-10^9", with_(acc, "--pes", big), {"fast": True, "expect": "either"}),
        ("accel-unknown-preset", replaced(acc, "--hw", "nope"), {}),
        ("accel-crossbar-preset", replaced(acc, "--hw", "loihi"), {}),
        ("convert-calib-samples-0", replaced(conv, "--calib-samples", "0"), {}),
        ("convert-statistic-p200", with_(conv, "--statistic", "p200"), {"quick": True}),
        ("convert-statistic-pnan", with_(conv, "--statistic", "pnan"), {}),
        ("convert-statistic-p-1", with_(conv, "--statistic", "p-1"), {}),
        ("convert-statistic-bogus", with_(conv, "--statistic", "bogus"), {}),
        ("convert-beta-nan", with_(conv, "--neuron", "LIF", "--beta", "nan"), {}),
        ("convert-beta-negative", with_(conv, "--neuron", "LIF", "--beta", "-1"), {}),
        ("convert-beta-above-one", with_(conv, "--neuron", "LIF", "--beta", "2"), {}),
        ("convert-v-init-nan", with_(conv, "--v-init", "nan"), {"quick": True}),
        ("convert-v-init-5", with_(conv, "--v-init", "5"), {}),
        ("convert-v-init-negative", with_(conv, "--v-init", "-1"), {}),
        ("convert-bias-calibration-0", with_(conv, "--bias-calibration", "0"), {}),
        ("convert-bias-calibration-10^9", with_(conv, "--bias-calibration", big), {"fast": True}),
        ("convert-option-width-1000", with_(conv, "--option", "width=1000"), {"fast": True}),
        ("convert-option-qcfs-negative", with_(conv, "--option", "qcfs_levels=-1"), {}),
        ("convert-option-no-equals", with_(conv, "--option", "qcfs_levels"), {}),
        ("convert-option-num-classes-0", with_(conv, "--option", "num_classes=0"), {}),
        ("inspect-option-num-classes-huge", ["inspect", "model.pt", "--option", "num_classes=1000000000000"],
         {"fast": True}),
        ("quantize-weight-bits-1", with_(quant, "--weight-bits", "1"), {"quick": True}),
        ("quantize-weight-bits-99", with_(quant, "--weight-bits", "99"), {}),
        ("quantize-threshold-bits-0", with_(quant, "--threshold-bits", "0"), {}),
        ("quantize-threshold-bits-1000", with_(quant, "--threshold-bits", "1000"), {}),
        ("quantize-membrane-bits-0", with_(quant, "--membrane-bits", "0"), {}),
        ("quantize-input-bits-0", with_(quant, "--input-bits", "0"), {}),
        ("quantize-input-bits-64", with_(quant, "--input-bits", "64"), {}),
        ("quantize-T-0-with-calib", with_(quant, "--calib", "data.npz", "-T", "0"), {}),
        ("quantize-calib-samples-0", with_(quant, "--calib", "data.npz", "--calib-samples", "0"), {}),
        ("quantize-already-quantized", quantize_argv("snn8"), {}),
        ("codesign-bits-empty", replaced(codes, "--bits", ""), {}),
        ("codesign-bits-0", replaced(codes, "--bits", "0"), {}),
        ("codesign-bits-99", replaced(codes, "--bits", "99"), {}),
        ("codesign-bits-repeated", replaced(codes, "--bits", "8,8"), {}),
        ("codesign-bits-text", replaced(codes, "--bits", "a,b"), {}),
        ("codesign-T-0", replaced(codes, "-T", "0"), {"quick": True}),
        ("codesign-T-10^9", replaced(codes, "-T", big), {"fast": True}),
        ("codesign-pes-0", replaced(codes, "--pes", "0"), {}),
        ("codesign-pes-10^9", replaced(codes, "--pes", big), {"fast": True, "expect": "either"}),
        ("codesign-crossbar-sizes-0", replaced(codes, "--pes", "16") + ["--hw", "xbar-mesh", "--crossbar-sizes", "0"], {}),
        ("codesign-samples-0", replaced(codes, "--samples", "0"), {}),
        ("codesign-unknown-preset", with_(codes, "--hw", "nope"), {}),
        ("analyse-max-steps-negative", ["analyse", "graph.xml", "--max-steps", "-1"], {}),
        ("analyse-max-steps-10^9", ["analyse", "graph.xml", "--max-steps", big], {"fast": True, "expect": "either"}),
        ("demo-epochs-0", ["demo", "--out", "d", "--epochs", "0"], {"quick": True}),
        ("demo-epochs-negative", ["demo", "--out", "d", "--epochs", "-3"], {}),
        ("demo-epochs-10^9", ["demo", "--out", "d", "--epochs", big], {"fast": True}),
        ("hw-show-unknown", ["hw", "show", "nope"], {}),
        ("hw-show-empty", ["hw", "show", ""], {}),
        ("unknown-command", ["frobnicate"], {}),
        ("admit-unknown-preset", ["admit", "graph.xml", "--hw", "nope"], {}),
    ]


def args_cases() -> Iterator[Case]:
    for name, argv, opts in _args_variants():
        def setup(ctx: Ctx, argv=argv, opts=opts) -> Run:
            for fixture in ("model.pt", "data.npz", "snn", "snn8", "graph.xml"):
                ctx.copy(fixture)
            outs = tuple(ctx.path(a) for a in ("out", "p.json", "d") )
            return cli(*argv, expect=opts.get("expect", "error"), fast=opts.get("fast", False), outputs=outs)
        yield Case("cli-args", name, setup, opts.get("quick", False))


# --------------------------------------------------------------------------------------------
# output paths: nothing of the user's is ever destroyed


FOLDER_WRITERS: dict[str, Callable[[str], list[str]]] = {
    "convert": lambda out: convert_argv("model.pt", out),
    "quantize": lambda out: quantize_argv("snn", out),
    "compile": lambda out: compile_argv("model.pt", out),
    "codesign": lambda out: codesign_argv("snn", out),
    "demo": lambda out: ["demo", "--out", out, "--epochs", "1"],
}

FILE_WRITERS: dict[str, Callable[[str], list[str]]] = {
    "map": lambda out: map_argv(out=out),
    "simulate": lambda out: simulate_argv() + ["--json", out],
    "analyse": lambda out: analyse_argv() + ["--json", out],
    "accel": lambda out: accel_argv() + ["--json", out],
}


def _inputs(ctx: Ctx) -> None:
    for fixture in ("model.pt", "data.npz", "snn", "snn8", "graph.xml"):
        ctx.copy(fixture)


def _user_folder(ctx: Ctx, name: str, *, network_json: bool = False, git: bool = False) -> Path:
    d = ctx.path(name)
    d.mkdir(parents=True)
    (d / "thesis.tex").write_text("\\chapter{Years of work}\n")
    (d / "results.csv").write_text("a,b\n1,2\n")
    if network_json:
        (d / "network.json").write_text(ctx.base["snn/network.json"].read_text())
    if git:
        (d / ".git").mkdir()
        (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (d / ".git" / "config").write_text("[core]\n")
    return d


def _folder_scenarios() -> list[tuple[str, Callable[[Ctx, Callable[[str], list[str]], str], Run], set[str]]]:
    """(name, setup(ctx, argv_for(out), writer), writers it applies to)."""
    every = set(FOLDER_WRITERS)
    no_demo = every - {"demo"}

    def user(network_json: bool = False, git: bool = False):
        def setup(ctx: Ctx, argv_for, writer) -> Run:
            _inputs(ctx)
            _user_folder(ctx, "results", network_json=network_json, git=git)
            return cli(*argv_for("results"), fast=True, outputs=(ctx.path("results"),))
        return setup

    def equal_input(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        argv = argv_for("snn")
        if writer == "convert":  # convert reads a model; give it the model folder ... as a saved ANN is not at hand,
            argv = convert_argv("snn", "snn")  # convert the SNN folder onto itself
        if writer == "compile":
            argv = compile_argv("snn", "snn")
        return cli(*argv, fast=True)

    def inside_input(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        argv = argv_for("snn/sub")
        if writer in ("convert", "compile"):
            ctx.path("m").mkdir()
            (ctx.path("m") / "model.pt").write_bytes(ctx.base["model.pt"].read_bytes())
            argv = (convert_argv if writer == "convert" else compile_argv)("m/model.pt", "m/out")
            return cli(*argv, expect="success", outputs=(ctx.path("m/out"),))
        return cli(*argv, fast=True, outputs=(ctx.path("snn/sub"),))

    def containing_input(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        work = ctx.path("work")
        work.mkdir()
        import shutil

        shutil.copytree(ctx.base["snn"], work / "snn")
        (work / ".spikeforge").write_text("an earlier output folder\n")  # even a marked folder: it holds the input
        argv = [a.replace("snn", "work/snn") if a == "snn" else a for a in argv_for("work")]
        if writer in ("convert", "compile"):
            shutil.copyfile(ctx.base["model.pt"], work / "model.pt")
            argv = [("work/model.pt" if a == "model.pt" else a) for a in argv_for("work")]
        return cli(*argv, fast=True, outputs=(work,))

    def a_file(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("notes.txt", "my notes")
        return cli(*argv_for("notes.txt"), fast=True)

    def under_a_file(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("notes.txt", "my notes")
        return cli(*argv_for("notes.txt/out"), fast=True)

    def cwd(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("notes.txt", "my notes")
        return cli(*argv_for("."), fast=True)

    def parent_of_cwd(ctx: Ctx, argv_for, writer) -> Run:
        sub = ctx.path("sub")
        sub.mkdir()
        for fixture in ("model.pt", "data.npz", "snn", "snn8", "graph.xml"):
            ctx.copy(fixture, f"sub/{fixture}")
        ctx.write("notes.txt", "my notes")
        ctx.write("sub/.spikeforge", "marker\n")
        return cli(*argv_for(".."), cwd=sub, fast=True)

    def link_to_user(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        _user_folder(ctx, "thesis")
        ctx.path("results").symlink_to("thesis")
        return cli(*argv_for("results"), fast=True)

    def read_only_parent(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return into_immutable_folder(ctx, argv_for, "out", keep=True)

    def read_only_earlier_output(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        import shutil

        shutil.copytree(ctx.base["snn"], ctx.path("old"))
        undo = immutable(ctx.path("old"))
        if undo is None:
            return Run(argv=[], skip="chattr +i not supported here")
        return cli(*argv_for("old"), cleanup=undo)

    def earlier_output(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        import shutil

        shutil.copytree(ctx.base["snn8"], ctx.path("old"))
        return cli(*argv_for("old"), expect="success", replaceable=(ctx.path("old"),), outputs=(ctx.path("old"),),
                   check=lambda d, r: None if (d / "old" / ".spikeforge").is_file() else "no marker in the output")

    def empty_folder(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.path("empty").mkdir()
        return cli(*argv_for("empty"), expect="success", replaceable=(ctx.path("empty"),),
                   outputs=(ctx.path("empty"),), check=outputs_exist("empty/.spikeforge"))

    def nested_new(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return cli(*argv_for("a/b/c"), expect="success", outputs=(ctx.path("a"),), check=outputs_exist("a/b/c"))

    def foreign_marker(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        d = _user_folder(ctx, "shared")
        (d / ".spikeforge").write_text("spikeforge output folder\n")
        os.chown(d / ".spikeforge", 65534, 65534)
        os.chown(d, 65534, 65534)
        return cli(*argv_for("shared"), fast=True)

    def marker_a_folder(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        d = _user_folder(ctx, "results")
        (d / ".spikeforge").mkdir()
        return cli(*argv_for("results"), fast=True)

    def long_name(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return cli(*argv_for("x" * 300), fast=True)

    def trailing_slash(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return cli(*argv_for("fresh/"), expect="success", outputs=(ctx.path("fresh"),), check=outputs_exist("fresh"))

    def empty_name(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("notes.txt", "my notes")
        return cli(*argv_for(""), fast=True)

    quick_writers = {"convert"}
    return [
        ("user-folder-with-network-json", user(network_json=True), every),
        ("user-folder-with-git", user(git=True), every),
        ("user-folder", user(), {"convert", "quantize", "demo"}),
        ("equal-to-input", equal_input, no_demo),
        ("inside-input", inside_input, {"quantize", "codesign"}),
        ("containing-input", containing_input, no_demo),
        ("a-file", a_file, {"convert", "quantize", "compile", "demo"}),
        ("under-a-file", under_a_file, {"convert", "quantize", "demo"}),
        ("the-working-directory", cwd, every),
        ("parent-of-working-directory", parent_of_cwd, {"convert", "quantize", "demo"}),
        ("symlink-to-user-folder", link_to_user, {"convert", "quantize", "compile"}),
        ("read-only-parent", read_only_parent, {"convert", "quantize", "codesign"}),
        ("read-only-earlier-output", read_only_earlier_output, {"convert", "quantize"}),
        ("earlier-output", earlier_output, {"convert", "quantize", "compile"}),
        ("empty-folder", empty_folder, {"convert", "quantize", "codesign"}),
        ("nested-new-path", nested_new, {"convert", "quantize"}),
        ("marker-owned-by-another-user", foreign_marker, {"convert", "quantize"}),
        ("marker-a-folder", marker_a_folder, {"convert", "quantize"}),
        ("name-300-characters", long_name, {"convert", "quantize", "demo"}),
        ("trailing-slash", trailing_slash, {"convert"}),
        ("empty-name", empty_name, {"convert", "quantize", "demo"}),
    ], quick_writers


def _file_scenarios() -> list[tuple[str, Callable[[Ctx, Callable[[str], list[str]], str], Run], set[str]]]:
    every = set(FILE_WRITERS)

    def user_file(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("report.json", '{"mine": true}')
        return cli(*argv_for("report.json"), expect="success", replaceable=(ctx.path("report.json"),),
                   outputs=(ctx.path("report.json"),),
                   check=lambda d, r: None if "mine" not in (d / "report.json").read_text() else "not replaced")

    def a_folder(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        _user_folder(ctx, "results")
        return cli(*argv_for("results"), fast=True)

    def under_file(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("notes.txt", "my notes")
        return cli(*argv_for("notes.txt/r.json"), fast=True)

    def equal_input(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        target = {"analyse": "graph.xml"}.get(writer, "data.npz")
        return cli(*argv_for(target), fast=True)

    def inside_input(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        net = "snn8" if writer == "accel" else "snn"
        return cli(*argv_for(f"{net}/r.json"), fast=True, outputs=(ctx.path(f"{net}/r.json"),))

    def read_only(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return into_immutable_folder(ctx, argv_for, "r.json")

    def link_to_user_file(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        ctx.write("thesis.tex", "my thesis")
        ctx.path("r.json").symlink_to("thesis.tex")
        return cli(*argv_for("r.json"), expect="either", replaceable=(ctx.path("r.json"),))

    def empty_name(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return cli(*argv_for(""), fast=True)

    def nested_new(ctx: Ctx, argv_for, writer) -> Run:
        _inputs(ctx)
        return cli(*argv_for("a/b/r.json"), expect="success", outputs=(ctx.path("a"),), check=outputs_exist("a/b/r.json"))

    return [
        ("user-file-named", user_file, every),
        ("a-folder", a_folder, every),
        ("under-a-file", under_file, every),
        ("equal-to-input", equal_input, every),
        ("inside-input-folder", inside_input, {"simulate", "accel", "map"}),
        ("read-only-folder", read_only, {"analyse", "simulate"}),
        ("symlink-to-user-file", link_to_user_file, {"analyse", "map"}),
        ("empty-name", empty_name, {"analyse", "simulate"}),
        ("nested-new-path", nested_new, {"analyse", "map"}),
    ]


def output_cases() -> Iterator[Case]:
    folder, quick_writers = _folder_scenarios()
    for name, setup, writers in folder:
        for writer in sorted(writers):
            def s(ctx: Ctx, setup=setup, writer=writer) -> Run:
                return setup(ctx, FOLDER_WRITERS[writer], writer)
            yield Case("output", f"{name}/{writer}", s, writer in quick_writers and name in (
                "user-folder-with-network-json", "user-folder-with-git", "equal-to-input", "a-file",
                "the-working-directory", "earlier-output", "symlink-to-user-folder", "read-only-parent"))
    for name, setup, writers in _file_scenarios():
        for writer in sorted(writers):
            def s(ctx: Ctx, setup=setup, writer=writer) -> Run:
                return setup(ctx, FILE_WRITERS[writer], writer)
            yield Case("output", f"{name}/{writer}", s, writer == "analyse" and name in (
                "user-file-named", "a-folder", "equal-to-input"))


# --------------------------------------------------------------------------------------------
# the public API: None, wrong types and hostile values must raise a SpikeforgeError subclass

_HW_DICT = "__import__('tomllib').loads(F['xbar.toml'].read_text())"

#: (label, import line, callable expression, positional argument expressions, keyword argument
#: expressions). Every call is valid as written (checked by the ``valid`` cases).
API_FUNCTIONS: list[tuple[str, str, str, list[str], dict[str, str]]] = [
    ("import_torch", "from spikeforge.frontends.torch_fx import import_torch", "import_torch",
     ["F.model", "(1, 8, 8)"], {"name": "'m'"}),
    ("convert", "from spikeforge.convert.normalise import convert", "convert", ["F.ann", "F.x"],
     {"statistic": "'p99.9'", "neuron": "'IF'", "v_init": "0.5"}),
    ("relu_to_qcfs", "from spikeforge.models.layers import relu_to_qcfs", "relu_to_qcfs", ["F.model", "4"], {}),
    ("calibrate_biases", "from spikeforge.convert.calibrate import calibrate_biases", "calibrate_biases",
     ["F.snn", "F.ann", "F.x", "2"], {}),
    ("simulate", "from spikeforge.sim.simulator import simulate", "simulate", ["F.snn", "F.x"],
     {"timesteps": "4", "labels": "F.y", "batch_size": "8", "checkpoints": "[1, 2, 4]"}),
    ("load_hardware", "from spikeforge.hardware import load_hardware", "load_hardware", ["'loihi'"], {}),
    ("Hardware.with_chips", "", "F.hw.with_chips", ["4"], {}),
    ("hardware_from_dict", "from spikeforge.hardware import hardware_from_dict", "hardware_from_dict",
     [_HW_DICT], {"source": "'x.toml'"}),
    ("hardware_to_toml", "from spikeforge.hardware import hardware_to_toml", "hardware_to_toml", ["F.hw"], {}),
    ("hardware_table_rows", "from spikeforge.hardware import hardware_table_rows", "hardware_table_rows", ["F.hw"], {}),
    ("board_arrangement", "from spikeforge.hardware import board_arrangement", "board_arrangement", ["4"], {}),
    ("core_coordinates", "from spikeforge.hardware import core_coordinates", "core_coordinates", ["F.hw"], {}),
    ("hop_distance", "from spikeforge.hardware import hop_distance", "hop_distance", ["F.hw", "[0, 1]", "[1, 2]"], {}),
    ("hop_counts", "from spikeforge.hardware import hop_counts", "hop_counts", ["F.hw", "[0, 1]", "[1, 2]"], {}),
    ("core_ids", "from spikeforge.hardware import core_ids", "core_ids", ["F.hw", "[0]", "[0]", "[1]"], {}),
    ("estimate_energy", "from spikeforge.hardware import estimate_energy", "estimate_energy", ["F.hw"],
     {"spikes": "1e3", "synops": "1e4", "neuron_updates": "1e3", "hops": "10.0", "interchip_transfers": "0.0",
      "time_s": "1e-3", "cores_used": "1", "chips_used": "1"}),
    ("load_accelerator", "from spikeforge.hardware.accelerator import load_accelerator", "load_accelerator",
     ["'pynq-z2-accel'"], {}),
    ("accelerate", "from spikeforge.quantize.accelerator import accelerate", "accelerate",
     ["F.q", "F.x[:8]", "F.accel", "2"], {}),
    ("partition", "from spikeforge.mapping.partition import partition", "partition", ["F.snn", "F.profile", "F.hw"],
     {"strategy": "'tiles'", "fan_in": "'split'"}),
    ("place", "from spikeforge.mapping.place import place", "place", ["F.part", "F.hw"],
     {"strategy": "'fill'", "chips": "2", "seed": "0"}),
    ("traffic_summary", "from spikeforge.mapping.report import traffic_summary", "traffic_summary",
     ["F.placement", "?F.profile"], {}),
    ("interchip_bound", "from spikeforge.mapping.report import interchip_bound", "interchip_bound", ["F.part", "16"], {}),
    ("build_sdfg", "from spikeforge.dataflow.build import build_sdfg", "build_sdfg", ["F.placement", "?F.profile", "?F.hw"],
     {"timesteps": "4"}),
    ("read_sdf3", "from spikeforge.dataflow import read_sdf3", "read_sdf3", ["F['graph.xml']"], {}),
    ("write_sdf3", "from spikeforge.dataflow import write_sdf3", "write_sdf3", ["F.graph", "D / 'g.xml'"], {}),
    ("to_sdf3_string", "from spikeforge.dataflow import to_sdf3_string", "to_sdf3_string", ["F.graph"], {}),
    ("throughput", "from spikeforge.dataflow import throughput", "throughput", ["F.graph"], {"exact": "True"}),
    ("latency", "from spikeforge.dataflow import latency", "latency", ["F.graph"], {}),
    ("critical_cycle", "from spikeforge.dataflow import critical_cycle", "critical_cycle", ["F.graph"], {}),
    ("maxplus_matrix", "from spikeforge.dataflow import maxplus_matrix", "maxplus_matrix", ["F.graph"], {}),
    ("buffer_tradeoff", "from spikeforge.dataflow import buffer_tradeoff", "buffer_tradeoff", ["F.graph"],
     {"max_steps": "5"}),
    ("repetition_vector", "from spikeforge.dataflow import repetition_vector", "repetition_vector", ["F.graph"], {}),
    ("check_deadlock", "from spikeforge.dataflow import check_deadlock", "check_deadlock", ["F.graph"], {}),
    ("blocked_cycle", "from spikeforge.dataflow import blocked_cycle", "blocked_cycle", ["F.graph"], {}),
    ("dataflow.simulate", "from spikeforge.dataflow import simulate as df_simulate", "df_simulate", ["F.graph", "5"], {}),
    ("Platform", "from spikeforge.dataflow import Platform", "Platform", ["4"], {}),
    ("Platform.from_hardware", "from spikeforge.dataflow import Platform", "Platform.from_hardware", ["F.hw"], {}),
    ("Runtime", "from spikeforge.runtime import Runtime", "Runtime", ["F.hw"], {}),
    ("Runtime.admit", "from spikeforge.runtime import Runtime", "Runtime(F.hw).admit", ["F.artifact"],
     {"min_throughput": "1e-9", "name": "'a'"}),
    ("quantize", "from spikeforge.quantize import quantize", "quantize", ["F.snn"],
     {"weight_bits": "8", "threshold_bits": "16", "input_bits": "8"}),
    ("quantize_weights", "from spikeforge.quantize import quantize_weights", "quantize_weights",
     ["F.snn.nodes[1].weight", "8"], {}),
    ("simulate_integer", "from spikeforge.quantize import simulate_integer", "simulate_integer", ["F.q", "F.x", "4"], {}),
    ("record_trace", "from spikeforge.quantize import record_trace", "record_trace", ["F.q", "F.x[:8]", "2"], {}),
    ("load_quantized", "from spikeforge.quantize import load_quantized", "load_quantized", ["F['snn8']"], {}),
    ("save_quantized", "from spikeforge.quantize import save_quantized", "save_quantized", ["F.q", "D / 'q'"], {}),
    ("check_bits", "from spikeforge.quantize import check_bits", "check_bits", ["'bits'", "8", "2", "8"], {}),
    ("qat", "from spikeforge.quantize import qat", "qat", ["F.model", "(F.x, F.y)"],
     {"bits": "8", "timesteps": "2", "epochs": "0.5", "quiet": "True"}),
    ("sweep", "from spikeforge.explore import sweep", "sweep", ["F.snn", "F.x[:8]", "F.y[:8]", "'pynq-z2-accel'"],
     {"bits": "(8,)", "timesteps": "(2,)", "pes": "(16,)", "quiet": "True"}),
    ("pareto_front", "from spikeforge.explore import pareto_front", "pareto_front", ["[]"], {}),
    ("load_target", "from spikeforge.hardware import load_target", "load_target", ["'pynq-z2-accel'"], {}),
    ("crossbar_variant", "from spikeforge.explore import crossbar_variant", "crossbar_variant", ["F.hw", "64"], {}),
    ("SimulationCache", "from spikeforge.explore import SimulationCache", "SimulationCache", ["?D / 'cache'"], {}),
    ("load_network", "from spikeforge.ir.serialize import load_network", "load_network", ["F['snn']"], {}),
    ("save_network", "from spikeforge.ir.serialize import save_network", "save_network", ["F.snn", "D / 'n'"], {}),
    ("load_model", "from spikeforge.frontends.model_file import load_model", "load_model", ["F['model.pt']"], {}),
    ("save_model", "from spikeforge.frontends.model_file import save_model", "save_model",
     ["D / 'm.pt'", "F.model", "'digits-cnn'"], {}),
    ("load_data", "from spikeforge.datasets import load_data", "load_data", ["F['data.npz']"], {}),
    ("load_artifact", "from spikeforge.artifact import load_artifact", "load_artifact", ["F['app']"], {}),
    ("import_pass", "from spikeforge.pipeline import import_pass", "import_pass", ["str(F['model.pt'])"], {}),
    ("compile_model", "from spikeforge.pipeline import compile_model, CompileOptions", "compile_model",
     ["CompileOptions(model=str(F['model.pt']), hardware='xbar-mesh', calib=str(F['data.npz']), timesteps=2, "
      "partitioner='tiles', placer='fill', calib_samples=8, data_samples=8)"], {"quiet": "True"}),
    ("check_count", "from spikeforge.resources import check_count", "check_count", ["8", "'--timesteps'"], {}),
    ("check_memory", "from spikeforge.resources import check_memory", "check_memory", ["1024", "'a buffer'"], {}),
    ("check_input_file", "from spikeforge.resources import check_input_file", "check_input_file",
     ["F['data.npz']", "1 << 30", "'data'"], {}),
    ("Actor", "from spikeforge.ir.dataflow import Actor", "Actor", ["'A'", "2"], {}),
    ("Channel", "from spikeforge.ir.dataflow import Channel", "Channel", ["'c'", "'A'", "'B'", "1", "1"],
     {"initial_tokens": "0"}),
    ("DataflowGraph", "from spikeforge.ir.dataflow import DataflowGraph", "DataflowGraph",
     ["F.graph.actors", "F.graph.channels"], {}),
    ("Network", "from spikeforge.ir.network import Network", "Network", ["F.snn.nodes", "F.snn.outputs"], {}),
    ("Linear", "from spikeforge.ir.network import Linear; import numpy as np", "Linear",
     ["'fc'", "('x',)", "np.ones((3, 4), np.float32)"], {}),
    ("Conv2d", "from spikeforge.ir.network import Conv2d; import numpy as np", "Conv2d",
     ["'c'", "('x',)", "np.ones((4, 1, 3, 3), np.float32)"], {"stride": "(1, 1)", "groups": "1"}),
    ("IF", "from spikeforge.ir.network import IF; import numpy as np", "IF", ["'n'", "('c',)", "np.float32(1.0)"],
     {"v_init": "0.5"}),
]


def _wrong(expr: str) -> str:
    """A value of a clearly wrong type for a parameter whose valid value is ``expr``."""
    e = expr.strip()
    if e.startswith(("'", '"', "D /", "F[", "str(")):
        return "3.5"
    if e.lstrip("-").replace(".", "", 1).replace("e", "", 1).isdigit() or e in ("True", "False"):
        return "[8]"
    if e.startswith(("(", "[")):
        return "'1,8,8'"
    if e.startswith("F.x") or e.startswith("F.y") or e.startswith("np.") or e.startswith("F.snn.nodes[1].weight"):
        return "'x'"
    return "'not-a-thing'"


def api_cases() -> Iterator[Case]:
    for label, imports, fn, args, kwargs in API_FUNCTIONS:
        def call(a: list[str], k: dict[str, str], fn: str = fn) -> str:
            return f"{fn}({', '.join(a + [f'{kk}={vv}' for kk, vv in k.items()])})"

        def make(code: str, expect: str, fast: bool = False) -> Callable[[Ctx], Run]:
            def setup(ctx: Ctx) -> Run:
                return api(code, expect=expect, fast=fast)
            return setup

        head = (imports + "\n") if imports else ""
        optional = {i for i, a in enumerate(args) if a.startswith("?")}  # None is a valid value there
        args = [a.lstrip("?") for a in args]
        quick_fn = label in ("simulate", "convert", "load_hardware", "read_sdf3", "throughput", "quantize",
                             "partition", "Runtime.admit", "load_network", "load_data", "import_torch", "place")
        yield Case("api", f"{label}/valid", make(head + "result = " + call(args, kwargs), "success"), quick_fn)
        for i, arg in enumerate(args):
            for bad, tag in (("None", "None"), (_wrong(arg), "wrong-type")):
                if bad == "None" and i in optional:
                    continue
                a = list(args)
                a[i] = bad
                yield Case("api", f"{label}/arg{i}-{tag}", make(head + call(a, kwargs), "error"),
                           quick_fn and i == 0)
        for k, v in kwargs.items():
            kw = dict(kwargs)
            # statistic may be a str or a float percentile: a list is the wrong type there
            kw[k] = "'labels'" if v == "F.y" else ("[99]" if k == "statistic" else _wrong(v))
            yield Case("api", f"{label}/{k}-wrong-type", make(head + call(args, kw), "error"))

    for name, code, expect, fast in _api_values():
        def setup(ctx: Ctx, code=code, expect=expect, fast=fast) -> Run:
            ctx.write("notes.txt", "my notes")  # a file of the user's beside every snippet
            return api(code, expect=expect, fast=fast)
        yield Case("api", name, setup, name in _QUICK_VALUES)


_QUICK_VALUES = {"simulate/timesteps-0", "simulate/timesteps-10^9", "simulate/x-nan", "convert/statistic-p200",
                 "quantize/weight-bits-1", "Actor/time-nan", "place/chips-10^8", "throughput/deadlock",
                 "load_hardware/empty-name", "Runtime.admit/min-throughput-nan"}


def _api_values() -> list[tuple[str, str, str, bool]]:
    """(name, code, expect, fast): hostile values of the right type."""
    sim = "from spikeforge.sim.simulator import simulate\n"
    conv = "from spikeforge.convert.normalise import convert\nimport numpy as np\n"
    quant = "from spikeforge.quantize import quantize, simulate_integer\n"
    part = "from spikeforge.mapping.partition import partition\n"
    place = "from spikeforge.mapping.place import place\n"
    df = ("from spikeforge.dataflow import throughput, latency, buffer_tradeoff, repetition_vector, read_sdf3\n"
          "from spikeforge.dataflow import simulate as df_simulate\n"
          "from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph\n")
    ir = "from spikeforge.ir.network import Input, Linear, Conv2d, IF, LIF, AvgPool2d, Network\nimport numpy as np\n"
    rt = "from spikeforge.runtime import Runtime\n"
    ex = "from spikeforge.explore import sweep\n"
    E, S, X = "error", "success", "either"
    deadlock = (df + "g = DataflowGraph((Actor('A', 1), Actor('B', 1)), (Channel('ab', 'A', 'B', 1, 1, 0), "
                "Channel('ba', 'B', 'A', 1, 1, 0)))\n")
    return [
        ("simulate/timesteps-0", sim + "simulate(F.snn, F.x, timesteps=0)", E, False),
        ("simulate/timesteps-negative", sim + "simulate(F.snn, F.x, timesteps=-3)", E, False),
        ("simulate/timesteps-float", sim + "simulate(F.snn, F.x, timesteps=2.5)", E, False),
        ("simulate/timesteps-bool", sim + "simulate(F.snn, F.x, timesteps=True)", E, False),
        ("simulate/timesteps-10^9", sim + "simulate(F.snn, F.x, timesteps=10**9)", E, True),
        ("simulate/batch-size-0", sim + "simulate(F.snn, F.x, timesteps=2, batch_size=0)", E, False),
        ("simulate/x-nan", sim + "x = F.x; x[0, 0, 0, 0] = float('nan')\nsimulate(F.snn, x, timesteps=2)", E, False),
        ("simulate/x-wrong-shape", sim + "simulate(F.snn, F.x[:, :, :4], timesteps=2)", E, False),
        ("simulate/x-empty", sim + "simulate(F.snn, F.x[:0], timesteps=2)", E, False),
        ("simulate/x-10^9-samples-view", sim + "import numpy as np\n"
         "x = np.broadcast_to(F.x[:1], (10**9, 1, 8, 8))\nsimulate(F.snn, x, timesteps=2)", X, True),
        ("simulate/labels-out-of-range", sim + "simulate(F.snn, F.x, timesteps=2, labels=F.y * 0 + 99)", E, False),
        ("simulate/labels-wrong-length", sim + "simulate(F.snn, F.x, timesteps=2, labels=F.y[:3])", E, False),
        ("simulate/checkpoint-0", sim + "simulate(F.snn, F.x, timesteps=4, checkpoints=[0, 4])", E, False),
        ("simulate/checkpoint-beyond-T", sim + "simulate(F.snn, F.x, timesteps=4, checkpoints=[100])", E, False),
        ("simulate/ann-not-snn", sim + "simulate(F.ann, F.x, timesteps=2)", X, False),
        ("simulate/correct-result", sim + "r = simulate(F.snn, F.x, timesteps=4, checkpoints=[2, 4], labels=F.y)\n"
         "import numpy as np\nexpect(set(r.accuracy) == {2, 4}, f'checkpoints {set(r.accuracy)}')\n"
         "expect(all(0 <= a <= 1 for a in r.accuracy.values()), 'accuracy outside [0, 1]')\n"
         "expect(all(np.isfinite(o).all() for o in r.outputs.values()), 'NaN outputs')", S, False),
        ("convert/statistic-p200", conv + "convert(F.ann, F.x, statistic='p200')", E, False),
        ("convert/statistic-negative-float", conv + "convert(F.ann, F.x, statistic=-5.0)", E, False),
        ("convert/statistic-nan", conv + "convert(F.ann, F.x, statistic=float('nan'))", E, False),
        ("convert/statistic-bogus", conv + "convert(F.ann, F.x, statistic='median')", E, False),
        ("convert/neuron-unknown", conv + "convert(F.ann, F.x, neuron='HH')", E, False),
        ("convert/balance-unknown", conv + "convert(F.ann, F.x, balance='both')", E, False),
        ("convert/beta-nan", conv + "convert(F.ann, F.x, neuron='LIF', beta=float('nan'))", E, False),
        ("convert/beta-above-one", conv + "convert(F.ann, F.x, neuron='LIF', beta=1.5)", E, False),
        ("convert/v-init-nan", conv + "convert(F.ann, F.x, v_init=float('nan'))", E, False),
        ("convert/v-init-5", conv + "convert(F.ann, F.x, v_init=5.0)", E, False),
        ("convert/calib-all-zero", conv + "snn = convert(F.ann, np.zeros_like(F.x))\n"
         "expect(all(np.isfinite(np.asarray(getattr(n, 'threshold', 1.0))).all() for n in snn.nodes), 'NaN thresholds')",
         X, False),
        ("convert/calib-nan", conv + "x = F.x; x[0] = np.nan\nconvert(F.ann, x)", E, False),
        ("convert/calib-wrong-shape", conv + "convert(F.ann, F.x[:, :, :3])", E, False),
        ("convert/snn-not-ann", conv + "convert(F.snn, F.x)", E, False),
        ("convert/no-calib", conv + "convert(F.ann, None)", E, False),
        ("quantize/weight-bits-1", quant + "quantize(F.snn, weight_bits=1)", E, False),
        ("quantize/weight-bits-99", quant + "quantize(F.snn, weight_bits=99)", E, False),
        ("quantize/weight-bits-float", quant + "quantize(F.snn, weight_bits=8.5)", E, False),
        ("quantize/threshold-bits-0", quant + "quantize(F.snn, threshold_bits=0)", E, False),
        ("quantize/membrane-bits-1", quant + "quantize(F.snn, membrane_bits=1)", E, False),
        ("quantize/input-range-nan", quant + "quantize(F.snn, input_range=float('nan'))", E, False),
        ("quantize/input-range-negative", quant + "quantize(F.snn, input_range=-1.0)", E, False),
        ("quantize/ann-not-snn", quant + "quantize(F.ann)", E, False),
        ("simulate_integer/timesteps-0", quant + "simulate_integer(F.q, F.x, 0)", E, False),
        ("simulate_integer/timesteps-10^9", quant + "simulate_integer(F.q, F.x, 10**9)", E, True),
        ("simulate_integer/x-nan", quant + "x = F.x; x[0] = float('nan')\nsimulate_integer(F.q, x, 2)", E, False),
        ("simulate_integer/membrane-bits-0", quant + "simulate_integer(F.q, F.x, 2, membrane_bits=0)", E, False),
        ("partition/strategy-unknown", part + "partition(F.snn, F.profile, F.hw, strategy='magic')", E, False),
        ("partition/fan-in-unknown", part + "partition(F.snn, F.profile, F.hw, strategy='tiles', fan_in='x')", E, False),
        ("partition/ann-not-snn", part + "partition(F.ann, F.profile, F.hw, strategy='tiles')", E, False),
        ("partition/hw-unknown-preset", part + "partition(F.snn, F.profile, 'nope', strategy='tiles')", E, False),
        ("place/strategy-unknown", place + "place(F.part, F.hw, strategy='magic')", E, False),
        ("place/chips-0", place + "place(F.part, F.hw, strategy='fill', chips=0)", E, False),
        ("place/chips-negative", place + "place(F.part, F.hw, strategy='fill', chips=-2)", E, False),
        ("place/chips-10^8", place + "place(F.part, F.hw, strategy='fill', chips=10**8)", E, True),
        ("place/chips-10^8-min-cut", place + "place(F.part, F.hw, strategy='min-cut', chips=10**8)", E, True),
        ("place/seed-negative", place + "place(F.part, F.hw, strategy='min-cut', seed=-1)", X, False),
        ("place/refine-moves-negative", place + "place(F.part, F.hw, strategy='min-cut', refine_moves=-5)", E, False),
        ("with_chips/0", "F.hw.with_chips(0)", E, False),
        ("with_chips/negative", "F.hw.with_chips(-1)", E, False),
        ("with_chips/10^12", "hw = F.hw.with_chips(10**12)", E, True),
        ("load_hardware/empty-name", "from spikeforge.hardware import load_hardware\nload_hardware('')", E, False),
        ("load_hardware/dev-zero", "from spikeforge.hardware import load_hardware\nload_hardware('/dev/zero')", E, True),
        ("load_hardware/etc-passwd", "from spikeforge.hardware import load_hardware\nload_hardware('/etc/passwd')", E, False),
        ("hardware_from_dict/empty", "from spikeforge.hardware import hardware_from_dict\nhardware_from_dict({})", E, False),
        ("hardware_from_dict/core-none", "from spikeforge.hardware import hardware_from_dict\n"
         f"d = {_HW_DICT}\nd['core'] = None\nhardware_from_dict(d)", E, False),
        ("hop_distance/core-out-of-range", "from spikeforge.hardware import hop_distance\n"
         "hop_distance(F.hw, [10**9], [0])", E, False),
        ("hop_distance/negative-core", "from spikeforge.hardware import hop_distance\nhop_distance(F.hw, [-1], [0])", E, False),
        ("core_ids/chip-out-of-range", "from spikeforge.hardware import core_ids\ncore_ids(F.hw, [99], [0], [0])", E, False),
        ("board_arrangement/0", "from spikeforge.hardware import board_arrangement\nboard_arrangement(0)", E, False),
        ("estimate_energy/nan", "from spikeforge.hardware import estimate_energy\n"
         "estimate_energy(F.hw, spikes=float('nan'), synops=1.0, neuron_updates=1.0, hops=1.0, "
         "interchip_transfers=0.0, time_s=1e-3, cores_used=1, chips_used=1)", E, False),
        ("estimate_energy/negative", "from spikeforge.hardware import estimate_energy\n"
         "estimate_energy(F.hw, spikes=-1.0, synops=1.0, neuron_updates=1.0, hops=1.0, "
         "interchip_transfers=0.0, time_s=1e-3, cores_used=1, chips_used=1)", E, False),
        ("Actor/time-nan", df + "Actor('A', float('nan'))", E, False),
        ("Actor/time-negative", df + "Actor('A', -1)", E, False),
        ("Actor/time-inf", df + "Actor('A', float('inf'))", E, False),
        ("Actor/name-empty", df + "Actor('', 1)", E, False),
        ("Channel/rate-zero", df + "Channel('c', 'A', 'B', 0, 1)", E, False),
        ("Channel/tokens-negative", df + "Channel('c', 'A', 'B', 1, 1, -1)", E, False),
        ("Channel/rate-float", df + "Channel('c', 'A', 'B', 1.5, 1)", E, False),
        ("DataflowGraph/duplicate-actors", df + "DataflowGraph((Actor('A', 1), Actor('A', 2)), ())", E, False),
        ("DataflowGraph/channel-to-unknown-actor", df + "DataflowGraph((Actor('A', 1),), "
         "(Channel('c', 'A', 'Z', 1, 1),))", E, False),
        ("throughput/deadlock", deadlock + "throughput(g)", E, False),
        ("latency/deadlock", deadlock + "latency(g)", E, False),
        ("buffer_tradeoff/deadlock", deadlock + "buffer_tradeoff(g)", E, False),
        ("throughput/inconsistent", df + "g = DataflowGraph((Actor('A', 1), Actor('B', 1)), (Channel('ab', 'A', 'B', 2, 1, 0), "
         "Channel('ba', 'B', 'A', 1, 1, 1)))\nthroughput(g)", E, False),
        ("throughput/rates-10^12", df + "g = DataflowGraph((Actor('A', 1), Actor('B', 1)), (Channel('ab', 'A', 'B', 10**12, 1, 0), "
         "Channel('ba', 'B', 'A', 1, 10**12, 10**12)))\nthroughput(g)", X, True),
        ("throughput/empty-graph", df + "throughput(DataflowGraph((), ()))", X, False),
        ("throughput/correct", df + "from fractions import Fraction\n"
         "g = DataflowGraph((Actor('A', 2), Actor('B', 3)), (Channel('ab', 'A', 'B', 1, 1), Channel('ba', 'B', 'A', 1, 1, 1)))\n"
         "t = throughput(g, exact=True).throughput\nexpect(Fraction(t) == Fraction(1, 5), f'throughput {t}, expected 1/5')",
         S, False),
        ("repetition_vector/correct", df + "g = DataflowGraph((Actor('A', 1), Actor('B', 1)), "
         "(Channel('ab', 'A', 'B', 2, 3), Channel('ba', 'B', 'A', 3, 2, 6)))\nq = repetition_vector(g)\n"
         "expect(dict(q) == {'A': 3, 'B': 2}, f'repetition vector {dict(q)}')", S, False),
        ("dataflow.simulate/iterations-0", df + "df_simulate(F.graph, 0)", E, False),
        ("dataflow.simulate/iterations-10^9", df + "df_simulate(F.graph, 10**9)", E, True),
        ("buffer_tradeoff/max-steps-negative", df + "buffer_tradeoff(F.graph, max_steps=-1)", E, False),
        ("read_sdf3/empty-string", df + "read_sdf3('')", E, False),
        ("read_sdf3/xml-string-dtd", df + "read_sdf3('<!DOCTYPE x [<!ENTITY a \"b\">]><sdf3/>')", E, False),
        ("read_sdf3/bytes", df + "read_sdf3(F['graph.xml'].read_bytes())", E, False),
        ("Runtime/unknown-preset", rt + "Runtime('nope')", E, False),
        ("Runtime.admit/none", rt + "Runtime(F.hw).admit(None)", E, False),
        ("Runtime.admit/min-throughput-nan", rt + "Runtime(F.hw).admit(F.graph, min_throughput=float('nan'))", E, False),
        ("Runtime.admit/min-throughput-negative", rt + "Runtime(F.hw).admit(F.graph, min_throughput=-1.0)", E, False),
        ("Runtime.admit/crossbars-0", rt + "Runtime(F.hw).admit(F.graph, crossbars=0)", E, False),
        ("Runtime.admit/crossbars-10^9", rt + "Runtime(F.hw).admit(F.graph, crossbars=10**9)", X, True),
        ("sweep/bits-empty", ex + "sweep(F.snn, F.x[:8], F.y[:8], 'pynq-z2-accel', bits=(), timesteps=(2,), pes=(16,))", E, False),
        ("sweep/bits-1", ex + "sweep(F.snn, F.x[:8], F.y[:8], 'pynq-z2-accel', bits=(1,), timesteps=(2,), pes=(16,))", E, False),
        ("sweep/timesteps-0", ex + "sweep(F.snn, F.x[:8], F.y[:8], 'pynq-z2-accel', bits=(8,), timesteps=(0,), pes=(16,))", E, False),
        ("sweep/pes-0", ex + "sweep(F.snn, F.x[:8], F.y[:8], 'pynq-z2-accel', bits=(8,), timesteps=(2,), pes=(0,))", E, False),
        ("sweep/labels-out-of-range", ex + "sweep(F.snn, F.x[:8], F.y[:8] + 50, 'pynq-z2-accel', bits=(8,), "
         "timesteps=(2,), pes=(16,), quiet=True)", E, False),
        ("qat/bits-1", "from spikeforge.quantize import qat\nqat(F.model, (F.x, F.y), bits=1, timesteps=2, epochs=0.1)", E, False),
        ("qat/epochs-negative", "from spikeforge.quantize import qat\nqat(F.model, (F.x, F.y), epochs=-1)", E, False),
        ("qat/epochs-nan", "from spikeforge.quantize import qat\nqat(F.model, (F.x, F.y), epochs=float('nan'))", E, False),
        ("qat/timesteps-0", "from spikeforge.quantize import qat\nqat(F.model, (F.x, F.y), timesteps=0, epochs=0.1)", E, False),
        ("relu_to_qcfs/levels-0", "from spikeforge.models.layers import relu_to_qcfs\nrelu_to_qcfs(F.model, levels=0)", E, False),
        ("relu_to_qcfs/clip-nan", "from spikeforge.models.layers import relu_to_qcfs\nrelu_to_qcfs(F.model, clip=float('nan'))", E, False),
        ("calibrate_biases/timesteps-0", "from spikeforge.convert.calibrate import calibrate_biases\n"
         "calibrate_biases(F.snn, F.ann, F.x, 0)", E, False),
        ("import_torch/wrong-input-shape", "from spikeforge.frontends.torch_fx import import_torch\n"
         "import_torch(F.model, (3, 8, 8))", E, False),
        ("import_torch/negative-shape", "from spikeforge.frontends.torch_fx import import_torch\n"
         "import_torch(F.model, (1, -8, 8))", E, False),
        ("import_torch/huge-shape", "from spikeforge.frontends.torch_fx import import_torch\n"
         "import_torch(F.model, (1, 10**6, 10**6))", E, True),
        ("import_torch/sigmoid", "from spikeforge.frontends.torch_fx import import_torch\nimport torch\n"
         "import_torch(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4), torch.nn.Sigmoid()), (1, 8, 8))",
         E, False),
        ("Input/shape-negative", ir + "Input('x', (), (-1, 4))", E, False),
        ("Linear/weight-nan", ir + "Linear('fc', ('x',), np.full((3, 4), np.nan, np.float32))", E, False),
        ("Linear/weight-1d", ir + "Linear('fc', ('x',), np.ones(4, np.float32))", E, False),
        ("Conv2d/stride-0", ir + "Conv2d('c', ('x',), np.ones((4, 1, 3, 3), np.float32), stride=(0, 0))", E, False),
        ("Conv2d/groups-0", ir + "Conv2d('c', ('x',), np.ones((4, 1, 3, 3), np.float32), groups=0)", E, False),
        ("AvgPool2d/kernel-0", ir + "AvgPool2d('p', ('x',), kernel=(0, 0))", E, False),
        ("IF/threshold-zero", ir + "IF('n', ('c',), np.float32(0.0))", E, False),
        ("IF/threshold-nan", ir + "IF('n', ('c',), np.float32('nan'))", E, False),
        ("IF/v-init-5", ir + "IF('n', ('c',), np.float32(1.0), v_init=5.0)", E, False),
        ("LIF/beta-2", ir + "LIF('n', ('c',), np.float32(1.0), beta=2.0)", E, False),
        ("Network/empty", ir + "Network((), ())", E, False),
        ("Network/cycle", ir + "Network((Input('x', (), (4,)), Linear('a', ('b',), np.ones((4, 4), np.float32)), "
         "Linear('b', ('a',), np.ones((4, 4), np.float32))), ('b',))", E, False),
        ("Network/huge-input", ir + "net = Network((Input('x', (), (1, 10**5, 10**5)), Conv2d('c', ('x',), "
         "np.ones((4, 1, 3, 3), np.float32))), ('c',))\n"
         "from spikeforge.sim.simulator import simulate\nsimulate(net, np.zeros((1, 1, 8, 8), np.float32), timesteps=2)",
         E, True),
        ("save_network/into-a-file", "from spikeforge.ir.serialize import save_network\n"
         "save_network(F.snn, D / 'notes.txt')", E, False),
        ("load_data/digits-bogus", "from spikeforge.datasets import load_data\nload_data('digits:bogus')", E, False),
        ("check_count/above-high", "from spikeforge.resources import check_count\n"
         "check_count(10**12, '--chips', high=10**6)", E, False),
    ]


# --------------------------------------------------------------------------------------------
# fuzz: hypothesis mutations of valid files (deterministic: the same plans on every run)

_HOSTILE_JSON: list[Any] = [None, 0, -1, 1.5, 10 ** 30, float("nan"), float("inf"), -float("inf"), "", "x", [], {},
                            [0, 0, 0], True, "../../x", [[[[[]]]]], "1e308", 2 ** 63, -(2 ** 63) - 1, {"array": "nope"}]
_HOSTILE_TEXT = ["", "-1", "0", "1e308", "nan", "inf", "-inf", "1/0", "99999999999999999999", "abc", " ", "1.5",
                 "-0", "0x10", "1" * 50, "&amp;", "\u00e9"]

_PLANS: dict[str, list] = {}


def _plans(kind: str, n: int) -> list:
    """``n`` mutation plans: lists of (where, what, how) integers drawn by hypothesis."""
    if kind not in _PLANS:
        from hypothesis import strategies as st

        step = st.tuples(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6), st.integers(0, 3))
        _PLANS[kind] = draw_examples(st.lists(step, min_size=1, max_size=3), n)
    return _PLANS[kind]


def _json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            paths += _json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            paths += _json_paths(v, prefix + (i,))
    return paths


def mutate_json(doc: Any, plan: list, values: list[Any] = _HOSTILE_JSON) -> Any:
    """Apply a plan to a JSON-like document: replace (how 0-1), delete (2) or duplicate into (3)."""
    import copy

    doc = copy.deepcopy(doc)
    for where, what, how in plan:
        paths = _json_paths(doc)
        if not paths:
            break
        path = paths[where % len(paths)]
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if how == 2:
            if isinstance(parent, dict):
                parent.pop(key, None)
            elif isinstance(parent, list) and key < len(parent):
                parent.pop(key)
        elif how == 3 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(values[what % len(values)])
    return doc


def mutate_xml(text: str, plan: list) -> str:
    """Apply a plan to an XML document: set an attribute to a hostile value, delete it, or delete
    or duplicate an element."""
    import copy
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    for where, what, how in plan:
        elements = [(parent, child) for parent in root.iter() for child in parent]
        if not elements:
            break
        parent, el = elements[where % len(elements)]
        attrs = sorted(el.attrib)
        if how in (0, 1) and attrs:
            el.set(attrs[what % len(attrs)], _HOSTILE_TEXT[(what // 7) % len(_HOSTILE_TEXT)])
        elif how == 2 and attrs:
            del el.attrib[attrs[what % len(attrs)]]
        elif how == 3:
            if what % 2:
                parent.remove(el)
            else:
                parent.append(copy.deepcopy(el))
    return ET.tostring(root, encoding="unicode")


def mutate_bytes(data: bytes, plan: list) -> bytes:
    out = bytearray(data)
    for where, what, how in plan:
        if not out:
            break
        i = where % len(out)
        if how == 0:
            out[i] = what % 256
        elif how == 1:
            del out[i:]
        elif how == 2:
            out[i:i + 8] = b""
        else:
            out[i:i] = bytes([what % 256]) * (1 + what % 64)
    return bytes(out)


def fuzz_cases(n: int = 40, n_cli: int = 6, n_bytes: int = 15) -> Iterator[Case]:
    either = "either"

    for k in range(n):
        def net(ctx: Ctx, k=k) -> tuple[Path, list[Path]]:
            ctx.copy("snn", "net")
            doc = read_json(ctx.path("net/network.json"))
            ctx.path("net/network.json").write_text(json.dumps(mutate_json(doc, _plans("network", n)[k])))
            return ctx.path("net"), [ctx.dir.parent / "x", ctx.dir / "x"]

        def net_api(ctx: Ctx, net=net) -> Run:
            _, forbidden = net(ctx)
            return api("from spikeforge.ir.serialize import load_network\nfrom spikeforge.sim.simulator import simulate\n"
                       "import numpy as np\nnet = load_network(D / 'net')\nr = simulate(net, F.x[:4], timesteps=2)\n"
                       "expect(all(np.isfinite(o).all() for o in r.outputs.values()), 'NaN/Inf outputs')",
                       expect=either, forbidden=tuple(forbidden))

        def net_cli(ctx: Ctx, net=net) -> Run:
            _, forbidden = net(ctx)
            ctx.copy("data.npz")
            return cli(*simulate_argv("net"), expect=either, forbidden=tuple(forbidden))

        yield Case("fuzz", f"network-json-{k:02d}/api-load_network+simulate", net_api, k < 3)
        if k < n_cli:
            yield Case("fuzz", f"network-json-{k:02d}/simulate", net_cli)

        def hw(ctx: Ctx, k=k) -> None:
            doc = mutate_json(_hw_doc(ctx), _plans("hardware", n)[k],
                              [v for v in _HOSTILE_JSON if v is not None and v != {"array": "nope"}])
            try:
                ctx.write("hw.toml", toml_dumps(doc))
            except TypeError:
                ctx.write("hw.toml", json.dumps(doc))

        def hw_api(ctx: Ctx, hw=hw) -> Run:
            hw(ctx)
            return api("from spikeforge.hardware import load_hardware\nfrom spikeforge.mapping.partition import partition\n"
                       "from spikeforge.mapping.place import place\n"
                       "h = load_hardware(D / 'hw.toml')\n"
                       "place(partition(F.snn, F.profile, h, strategy='tiles'), h, strategy='fill')",
                       expect=either, fast=True)

        def hw_cli(ctx: Ctx, hw=hw) -> Run:
            hw(ctx)
            return cli("hw", "show", "hw.toml", expect=either, fast=True)

        yield Case("fuzz", f"hardware-toml-{k:02d}/api-load_hardware+map", hw_api, k < 3)
        if k < n_cli:
            yield Case("fuzz", f"hardware-toml-{k:02d}/hw-show", hw_cli)

        def sdf(ctx: Ctx, k=k) -> None:
            ctx.write("g.xml", mutate_xml(GRAPH_XML, _plans("sdf3", n)[k]))

        def sdf_api(ctx: Ctx, sdf=sdf) -> Run:
            sdf(ctx)
            return api("from spikeforge.dataflow import read_sdf3, throughput, latency, buffer_tradeoff\nimport math\n"
                       "g = read_sdf3(D / 'g.xml')\nt = float(throughput(g).throughput)\n"
                       "expect(math.isfinite(t) and t >= 0, f'throughput {t}')\n"
                       "latency(g)\nbuffer_tradeoff(g, max_steps=3)", expect=either, fast=True)

        def sdf_cli(ctx: Ctx, sdf=sdf) -> Run:
            sdf(ctx)
            return cli(*analyse_argv("g.xml"), expect=either, fast=True)

        yield Case("fuzz", f"sdf3-xml-{k:02d}/api-read_sdf3+analysis", sdf_api, k < 3)
        if k < n_cli:
            yield Case("fuzz", f"sdf3-xml-{k:02d}/analyse", sdf_cli)

    for k in range(n_bytes):
        def npz(ctx: Ctx, k=k) -> Run:
            ctx.write("d.npz", mutate_bytes(ctx.base["data.npz"].read_bytes(), _plans("npz", n_bytes)[k]))
            return api("from spikeforge.datasets import load_data\nimport numpy as np\nd = load_data(D / 'd.npz')\n"
                       "expect(np.isfinite(d.x).all(), 'NaN data')", expect=either, fast=True)

        def pt(ctx: Ctx, k=k) -> Run:
            marker = ctx.path("PICKLED_CODE_RAN")
            ctx.write("m.pt", mutate_bytes(ctx.base["model.pt"].read_bytes(), _plans("model", n_bytes)[k]))
            return api("from spikeforge.frontends.model_file import load_model\nload_model(D / 'm.pt')",
                       expect=either, fast=True, forbidden=(marker,))

        yield Case("fuzz", f"npz-bytes-{k:02d}/api-load_data", npz, k < 2)
        yield Case("fuzz", f"model-bytes-{k:02d}/api-load_model", pt, k < 2)


# --------------------------------------------------------------------------------------------
# the entry points of issues 21–24: NIR in and out, event recordings, HTML reports, the NSGA-II
# search and its cache, simulate --neurobench / --backend sanafe


def _nir_edit(change: Callable[[Any], Any]):
    """A copy of the valid ``net.nir`` changed in place with h5py (no NIR writer validates it)."""
    def write(ctx: Ctx, p: Path) -> None:
        import h5py

        p.write_bytes(ctx.base["net.nir"].read_bytes())
        with h5py.File(p, "r+") as f:
            change(f)
    return write


def _h5_replace(name: str, value: Any, **kw: Any) -> Callable[[Any], None]:
    def change(f) -> None:
        del f[name]
        f.create_dataset(name, data=value, **kw) if value is not None else f.create_dataset(name, **kw)
    return change


def _nir_variants() -> list[tuple[str, Callable[[Ctx, Path], None], dict]]:
    """(name, write(ctx, path), options). Every one must be refused by ``import``."""
    nan = float("nan")

    def raw(content: bytes | Callable[[Ctx], bytes]):
        def write(ctx: Ctx, p: Path) -> None:
            p.write_bytes(content(ctx) if callable(content) else content)
        return write

    def h5(build: Callable[[Any], None]):
        def write(ctx: Ctx, p: Path) -> None:
            import h5py

            with h5py.File(p, "w") as f:
                build(f)
        return write

    def special(kind: str):
        def write(ctx: Ctx, p: Path) -> None:
            special_file(p, kind, 8 << 30, b"\x89HDF\r\n\x1a\n")
        return write

    def edges(rows: list[tuple[str, str]]) -> Callable[[Any], None]:
        return _h5_replace("node/edges", np.array(rows, dtype=object), dtype=__import__("h5py").string_dtype())

    def add_edge(src: str, dst: str) -> Callable[[Any], None]:
        def change(f) -> None:
            rows = [tuple(x.decode() if isinstance(x, bytes) else x for x in row) for row in f["node/edges"][()]]
            edges(rows + [(src, dst)])(f)
        return change

    def node_type(node: str, type_: str) -> Callable[[Any], None]:
        return _h5_replace(f"node/nodes/{node}/type", type_.encode())

    def nested(depth: int) -> Callable[[Any], None]:
        def change(f) -> None:
            g = f["node/nodes"]
            for k in range(depth):
                g = g.create_group(f"n{k}")
                g.create_dataset("type", data=b"NIRGraph")
                g.create_dataset("edges", data=np.zeros((0, 2), dtype=object), dtype=__import__("h5py").string_dtype())
                g = g.create_group("nodes")
        return change

    def huge(name: str, shape: tuple[int, ...], dtype: str = "f4") -> Callable[[Any], None]:
        return _h5_replace(name, None, shape=shape, dtype=dtype, chunks=tuple(1 for _ in shape))

    def both(*changes: Callable[[Any], None]) -> Callable[[Any], None]:
        def change(f) -> None:
            for c in changes:
                c(f)
        return change

    return [
        ("empty-file", raw(b""), {"quick": True}),
        ("random-bytes", raw(rbytes(4096, 21)), {}),
        ("hdf5-magic-then-random", raw(b"\x89HDF\r\n\x1a\n" + rbytes(4096, 22)), {}),
        ("truncated-half", raw(lambda c: c.base["net.nir"].read_bytes()[: c.base["net.nir"].stat().st_size // 2]),
         {"quick": True}),
        ("truncated-to-superblock", raw(lambda c: c.base["net.nir"].read_bytes()[:96]), {}),
        ("a-pytorch-model", raw(lambda c: c.base["model.pt"].read_bytes()), {}),
        ("hdf5-no-node-group", h5(lambda f: f.create_dataset("weights", data=np.ones(3))), {"quick": True}),
        ("hdf5-node-a-dataset", h5(lambda f: f.create_dataset("node", data=np.ones(3))), {}),
        ("hdf5-empty", h5(lambda f: None), {}),
        ("node-type-unknown", _nir_edit(node_type("1", "QuantumNeuron")), {"quick": True}),
        ("node-type-missing", _nir_edit(lambda f: f.__delitem__("node/nodes/1/type")), {}),
        ("node-type-an-int", _nir_edit(_h5_replace("node/nodes/1/type", 7)), {}),
        ("graph-type-unknown", _nir_edit(_h5_replace("node/type", b"Bogus")), {}),
        ("weight-nan", _nir_edit(lambda f: f["node/nodes/0/weight"].__setitem__(..., nan)), {"quick": True}),
        ("weight-inf", _nir_edit(lambda f: f["node/nodes/7/weight"].__setitem__(..., float("inf"))), {}),
        ("bias-nan", _nir_edit(lambda f: f["node/nodes/0/bias"].__setitem__(..., nan)), {}),
        ("threshold-nan", _nir_edit(lambda f: f["node/nodes/1/v_threshold"].__setitem__(..., nan)), {"quick": True}),
        ("threshold-zero", _nir_edit(lambda f: f["node/nodes/1/v_threshold"].__setitem__(..., 0.0)), {}),
        ("threshold-negative", _nir_edit(lambda f: f["node/nodes/1/v_threshold"].__setitem__(..., -1.0)), {}),
        ("r-inf", _nir_edit(lambda f: f["node/nodes/1/r"].__setitem__(..., float("inf"))), {}),
        ("weight-strings", _nir_edit(_h5_replace("node/nodes/7/weight", np.array([b"a", b"b"]))), {}),
        ("weight-complex", _nir_edit(lambda f: _h5_replace("node/nodes/7/weight",
                                                          f["node/nodes/7/weight"][()].astype(np.complex64))(f)), {}),
        ("weight-compound", _nir_edit(_h5_replace("node/nodes/7/weight",
                                                  np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))), {}),
        ("weight-wrong-shape", _nir_edit(_h5_replace("node/nodes/7/weight", np.ones((3, 3), np.float32))), {}),
        ("weight-scalar", _nir_edit(_h5_replace("node/nodes/7/weight", np.float32(1.0))), {}),
        ("weight-declared-10^12", _nir_edit(huge("node/nodes/7/weight", (10 ** 6, 10 ** 6))),
         {"fast": True, "quick": True}),
        ("conv-weight-declared-10^15", _nir_edit(huge("node/nodes/0/weight", (10 ** 5, 10 ** 5, 300, 300))),
         {"fast": True}),
        ("input-shape-huge", _nir_edit(_h5_replace("node/nodes/input_1/shape", np.array([1, 10 ** 6, 10 ** 6]))),
         {"fast": True}),
        ("input-shape-negative", _nir_edit(_h5_replace("node/nodes/input_1/shape", np.array([1, -8, 8]))), {}),
        ("input-shape-zero", _nir_edit(_h5_replace("node/nodes/input_1/shape", np.array([1, 0, 8]))), {}),
        ("conv-stride-zero", _nir_edit(_h5_replace("node/nodes/0/stride", np.array([0, 0]))), {}),
        ("conv-groups-zero", _nir_edit(_h5_replace("node/nodes/0/groups", np.int64(0))), {}),
        ("conv-padding-huge", _nir_edit(_h5_replace("node/nodes/0/padding", np.array([10 ** 6, 10 ** 6]))),
         {"fast": True}),
        ("pool-kernel-zero", _nir_edit(_h5_replace("node/nodes/2/kernel_size", np.array([0, 0]))), {}),
        ("edge-to-missing-node", _nir_edit(add_edge("7", "ghost")), {"quick": True}),
        ("edge-from-missing-node", _nir_edit(add_edge("ghost", "7")), {}),
        ("edges-empty", _nir_edit(edges([])), {}),
        ("edges-wrong-dtype", _nir_edit(_h5_replace("node/edges", np.ones((3, 2), np.int64))), {}),
        ("edges-three-columns", _nir_edit(_h5_replace("node/edges", np.array([["0", "1", "2"]], dtype=object),
                                                      dtype=__import__("h5py").string_dtype())), {}),
        ("cycle-without-delay", _nir_edit(add_edge("7", "0")), {"quick": True}),
        ("self-loop-on-linear", _nir_edit(add_edge("0", "0")), {}),
        ("no-output", _nir_edit(both(lambda f: f.__delitem__("node/nodes/output"),
                                     edges([("input_1", "0"), ("0", "1")]))), {}),
        ("two-inputs", _nir_edit(lambda f: f.copy(f["node/nodes/input_1"], f["node/nodes"], "input_2")), {}),
        ("nested-40-deep", _nir_edit(nested(40)), {}),
        ("version-bogus", _nir_edit(_h5_replace("version", b"99.0")), {"expect": "either"}),
        ("a-folder-named-nir", special("dir"), {}),
        ("a-fifo", special("fifo"), {"fast": True}),
        ("dev-zero-link", special("devzero"), {"fast": True}),
        ("sparse-8gib-hdf5-magic", special("sparse"), {"fast": True}),
    ]


#: NIR variants also tried as the model of ``compile``, ``simulate`` and ``map``.
_NIR_AS_MODEL = {"truncated-half", "node-type-unknown", "weight-nan", "weight-declared-10^12", "cycle-without-delay",
                 "edge-to-missing-node", "a-fifo"}


def _temporal_data(ctx: Ctx, timesteps: int = 2) -> None:
    """``data.npz`` as a NIR graph's temporal input takes it: x (N, T, 1, 8, 8), the image at every step."""
    with np.load(ctx.base["data.npz"]) as d:
        x, y = d["x"], d["y"]
    ctx.write("data.npz", npz_of(x=np.repeat(x[:, None], timesteps, axis=1), y=y))


def nir_cases() -> Iterator[Case]:
    """``import X.nir -o NET``, ``export NET -o X.nir``, and ``.nir`` as a model file."""
    for name, write, opts in _nir_variants():
        fast, quick = opts.get("fast", False), opts.get("quick", False)

        expect = opts.get("expect", "error")

        def imp(ctx: Ctx, write=write, fast=fast, expect=expect) -> Run:
            write(ctx, ctx.path("m.nir"))
            return cli("import", "m.nir", "-o", "net", fast=fast, expect=expect, outputs=(ctx.path("net"),))

        def api_read(ctx: Ctx, write=write, fast=fast, expect=expect) -> Run:
            write(ctx, ctx.path("m.nir"))
            return api("from spikeforge.frontends.nir import read_nir\nread_nir(D / 'm.nir')", fast=fast,
                       expect=expect)

        yield Case("nir", f"{name}/import", imp, quick)
        yield Case("nir", f"{name}/api-read_nir", api_read, quick)
        if name in _NIR_AS_MODEL:
            for verb, argv in (("compile", compile_argv("m.nir")), ("simulate", simulate_argv("m.nir")),
                               ("map", map_argv("m.nir"))):
                def use(ctx: Ctx, write=write, fast=fast, argv=argv, verb=verb) -> Run:
                    ctx.copy("data.npz")
                    write(ctx, ctx.path("m.nir"))
                    out = {"compile": "out", "map": "p.json"}.get(verb)
                    return cli(*argv, fast=fast, outputs=(ctx.path(out),) if out else ())
                yield Case("nir", f"{name}/{verb}", use)

    def good_import(ctx: Ctx) -> Run:
        ctx.copy("net.nir")
        return cli("import", "net.nir", "-o", "net", expect="success", outputs=(ctx.path("net"),),
                   check=network_is_finite("net"))

    def good_simulate(ctx: Ctx) -> Run:
        ctx.copy("net.nir")
        _temporal_data(ctx)
        return cli(*simulate_argv("net.nir"), "--json", "r.json", expect="success", outputs=(ctx.path("r.json"),),
                   check=outputs_exist("r.json"))

    def good_roundtrip(ctx: Ctx) -> Run:
        return api("from spikeforge.frontends.nir import read_nir, write_nir\nimport warnings\n"
                   "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n"
                   "    write_nir(F.snn, D / 'a.nir')\n"
                   "net = read_nir(D / 'a.nir', reset='subtract')\n"
                   "expect(len(net.nodes) == len(F.snn.nodes), 'layers lost in the round trip')", expect="success")

    def good_map(ctx: Ctx) -> Run:
        ctx.copy("net.nir")
        _temporal_data(ctx)
        return cli(*map_argv("net.nir"), expect="success", outputs=(ctx.path("p.json"),), check=outputs_exist("p.json"))

    yield Case("nir", "valid/import", good_import, True)
    yield Case("nir", "valid/map", good_map)
    yield Case("nir", "valid/simulate", good_simulate)
    yield Case("nir", "valid/api-write+read", good_roundtrip, True)

    # export: the network given, and where the file goes
    def export(net: str, out: str = "x.nir", expect: str = "error", lay: Callable[[Ctx], None] | None = None,
               **kw: Any):
        def setup(ctx: Ctx) -> Run:
            for fixture in ("snn", "snn8", "model.pt", "net.nir"):
                ctx.copy(fixture)
            if lay:
                lay(ctx)
            return cli("export", net, "-o", out, expect=expect, **kw)
        return setup

    def breaks(change: Callable[[Ctx], None]):
        def lay(ctx: Ctx) -> None:
            change(ctx)
        return lay

    yield Case("nir", "export/valid", lambda ctx: export("snn", expect="success", check=outputs_exist("x.nir"),
                                                         outputs=(ctx.path("x.nir"),))(ctx), True)
    yield Case("nir", "export/quantised-network", lambda ctx: export("snn8", expect="either",
                                                                     outputs=(ctx.path("x.nir"),))(ctx))
    yield Case("nir", "export/a-model-file", export("model.pt"))
    yield Case("nir", "export/a-nir-file", lambda ctx: export("net.nir", expect="either",
                                                              outputs=(ctx.path("x.nir"),))(ctx))
    yield Case("nir", "export/missing-folder", export("nothing"))
    yield Case("nir", "export/network-json-wrong-format", export("snn", lay=breaks(lambda ctx: write_json(
        ctx.path("snn/network.json"), {"broken": True}))))
    yield Case("nir", "export/network-json-truncated", export("snn", lay=breaks(lambda ctx: ctx.write(
        "snn/network.json", ctx.base["snn/network.json"].read_text()[:100]))))


# --------------------------------------------------------------------------------------------
# event recordings: events info / events frames


def _events_variants() -> list[tuple[str, Callable[[Ctx, Path], list[Path]], dict]]:
    """(name, write(ctx, path) -> forbidden paths, options: expect, extra argv, fast, quick)."""
    from hostile.base import nmnist_bytes, recording

    def raw(content: bytes | Callable[[Ctx], bytes]):
        def write(ctx: Ctx, p: Path) -> list[Path]:
            p.write_bytes(content(ctx) if callable(content) else content)
            return []
        return write

    def events(change: Callable[[np.ndarray], np.ndarray]):
        return raw(lambda c: nmnist_bytes(change(recording())))

    def setf(field: str, value: Any):
        def change(ev: np.ndarray) -> np.ndarray:
            ev[field] = value
            return ev
        return events(change)

    def npy(make: Callable[[], np.ndarray]):
        def write(ctx: Ctx, p: Path) -> list[Path]:
            with open(p, "wb") as f:  # np.save(path) would add .npy to the name
                np.save(f, make())
            return []
        return write

    def pickled(ctx: Ctx, p: Path) -> list[Path]:
        marker = ctx.path("PICKLED_CODE_RAN")
        with open(p, "wb") as f:
            np.save(f, np.array([Evil(str(marker))], dtype=object), allow_pickle=True)
        return [marker]

    def special(kind: str):
        def write(ctx: Ctx, p: Path) -> list[Path]:
            if kind.startswith("sparse-"):
                sparse_file(p, 2 << 30 if kind == "sparse-2gib" else (1 << 30) - ((1 << 30) % 5))
            else:
                special_file(p, kind, 0)
            return []
        return write

    def huge_t(ev: np.ndarray) -> np.ndarray:
        ev["t"] = (1 << 23) - 1 - np.arange(len(ev))[::-1] % 3
        return ev

    def wraps(ev: np.ndarray) -> np.ndarray:
        ev["t"] = np.arange(len(ev)) * 100_000  # 20 s: wraps twice in 23 bits
        return ev

    structured = recording
    return [
        ("empty-file", raw(b""), {"quick": True}),
        ("one-byte", raw(b"\x01"), {}),
        ("seven-bytes", raw(b"\x01\x02\x03\x04\x05\x06\x07"), {"quick": True}),
        ("truncated-mid-event", raw(lambda c: c.base["rec.bin"].read_bytes()[:-2]), {}),
        ("random-bytes-4095", raw(rbytes(4095, 31)), {}),
        ("x-beyond-sensor", setf("x", 200), {}),
        ("y-240-overflow-markers", setf("y", 240), {}),
        ("timestamps-max-23-bit", events(huge_t), {"expect": "success", "quick": True}),
        ("timestamps-wrapping", events(wraps), {"expect": "success"}),
        ("timestamps-all-equal", setf("t", 5), {"expect": "success"}),
        ("timestamps-backwards", events(lambda ev: ev[::-1].copy()), {"expect": "success"}),
        ("one-event", events(lambda ev: ev[:1].copy()), {"expect": "success"}),
        ("npy-structured", npy(structured), {"expect": "either", "quick": True}),
        ("npy-structured-x-negative", npy(lambda: _set(structured(), "x", -3)), {}),
        ("npy-structured-p-minus-one", npy(lambda: _set(structured(), "p", -1)), {}),
        ("npy-structured-t-float-nan", npy(lambda: _retype(structured(), "t", "<f8", np.nan)), {}),
        ("npy-structured-no-p", npy(lambda: structured()[["t", "x", "y"]].copy()), {}),
        ("npy-structured-2d", npy(lambda: structured().reshape(10, 20)), {}),
        ("npy-plain-float", npy(lambda: np.ones((10, 4))), {}),
        ("npy-object-pickled-code", pickled, {"quick": True}),
        ("npy-header-declares-10^12-events", raw(npy_bytes((10 ** 12,), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"),
                                                                   ("p", "i1")])), {"fast": True}),
        ("npy-header-corrupt", raw(b"\x93NUMPY\x01\x00\xff\xff{'descr': <f4"), {}),
        ("npz-archive", raw(lambda c: c.base["data.npz"].read_bytes()), {}),
        ("a-nir-file", raw(lambda c: c.base["net.nir"].read_bytes()), {}),
        ("a-folder", special("dir"), {}),
        ("a-fifo", special("fifo"), {"fast": True}),
        ("dev-zero-link", special("devzero"), {"fast": True}),
        ("sparse-2gib", special("sparse-2gib"), {"fast": True}),
        ("sparse-1gib-of-zeros", special("sparse-1gib-zeros"), {"fast": True, "expect": "either"}),
    ]


def _set(a: np.ndarray, field: str, value: Any) -> np.ndarray:
    a[field] = value
    return a


def _retype(a: np.ndarray, field: str, dtype: str, value: Any) -> np.ndarray:
    descr = [(n, dtype if n == field else a.dtype[n].str) for n in a.dtype.names]
    b = np.zeros(a.shape, descr)
    for n in a.dtype.names:
        b[n] = value if n == field else a[n]
    return b


def events_cases() -> Iterator[Case]:
    for name, write, opts in _events_variants():
        expect, fast, quick = opts.get("expect", "error"), opts.get("fast", False), opts.get("quick", False)
        for verb in ("info", "frames"):
            def setup(ctx: Ctx, write=write, verb=verb, expect=expect, fast=fast) -> Run:
                forbidden = tuple(write(ctx, ctx.path("rec.bin")))
                if verb == "info":
                    return cli("events", "info", "rec.bin", expect=expect, fast=fast, forbidden=forbidden)
                return cli("events", "frames", "rec.bin", "-T", "8", "-o", "d.npz", expect=expect, fast=fast,
                           forbidden=forbidden, outputs=(ctx.path("d.npz"),),
                           check=outputs_exist("d.npz") if expect == "success" else None)
            yield Case("events", f"{name}/{verb}", setup, quick)

        def api_read(ctx: Ctx, write=write, expect=expect, fast=fast) -> Run:
            forbidden = tuple(write(ctx, ctx.path("rec.bin")))
            return api("from spikeforge.events import read_nmnist, bin_events\n"
                       "ev = read_nmnist(D / 'rec.bin')\nf = bin_events(ev, sensor=(34, 34), timesteps=8)\n"
                       "expect(float(f.sum()) == len(ev), 'frames do not sum to the events')",
                       expect=expect, fast=fast, forbidden=forbidden)
        yield Case("events", f"{name}/api-read_nmnist+bin", api_read, quick)

    # the arguments and the folder layout of events frames
    def frames(*argv: str, expect: str = "error", lay: Callable[[Ctx], None] | None = None, **kw: Any):
        def setup(ctx: Ctx) -> Run:
            for fixture in ("rec.bin", "rec.npy", "nmnist", "data.npz"):
                ctx.copy(fixture)
            if lay:
                lay(ctx)
            outputs = (ctx.path("d.npz"),) if "d.npz" in argv else ()
            return cli("events", "frames", *argv, expect=expect, outputs=outputs, **kw)
        return setup

    def add_file(name: str, content: bytes) -> Callable[[Ctx], None]:
        return lambda ctx: ctx.write(name, content)

    from hostile.base import nmnist_bytes, recording

    long_rec = nmnist_bytes(_set(recording(50, 9), "t", np.arange(50) * 150_000))  # 7.35 s
    for name, argv, opts in [
        ("no-T-no-bin", ["rec.bin", "-o", "d.npz"], {}),
        ("T-0", ["rec.bin", "-T", "0", "-o", "d.npz"], {}),
        ("T-10^9", ["rec.bin", "-T", "1000000000", "-o", "d.npz"], {"fast": True}),
        ("T-10^18", ["rec.bin", "-T", str(10 ** 18), "-o", "d.npz"], {"fast": True}),
        ("bin-us-1-long-recording", ["long.bin", "--bin-us", "1", "-o", "d.npz"],
         {"fast": True, "lay": add_file("long.bin", long_rec)}),
        ("sensor-max-and-T-10^4", ["rec.bin", "-T", "10000", "--sensor", "32768", "32768", "-o", "d.npz"],
         {"fast": True}),
        ("sensor-0", ["rec.bin", "-T", "8", "--sensor", "0", "34", "-o", "d.npz"], {}),
        ("sensor-too-small", ["rec.bin", "-T", "8", "--sensor", "2", "2", "-o", "d.npz"], {}),
        ("bin-us-different-lengths", ["nmnist/0/a.bin", "long.bin", "--bin-us", "1000", "-o", "d.npz"],
         {"lay": add_file("long.bin", long_rec)}),
        ("labels-not-digits", ["rec.bin", "-T", "8", "--labels-from-folders", "-o", "d.npz"], {}),
        ("labels-from-folders", ["nmnist", "-T", "8", "--labels-from-folders", "-o", "d.npz"],
         {"expect": "success", "check": outputs_exist("d.npz")}),
        ("folder-without-recordings", ["empty", "-T", "8", "-o", "d.npz"],
         {"lay": lambda ctx: ctx.path("empty").mkdir()}),
        ("folder-with-one-bad-file", ["nmnist", "-T", "8", "-o", "d.npz"],
         {"lay": add_file("nmnist/1/bad.bin", b"\x01\x02\x03")}),
        ("missing-file", ["nothing.bin", "-T", "8", "-o", "d.npz"], {}),
        ("non-utf8-file-name", ["\udcff\udcfe.bin", "-T", "8", "-o", "d.npz"],
         {"expect": "success", "lay": lambda ctx: os.link(ctx.path("rec.bin"), ctx.path("\udcff\udcfe.bin")),
          "check": outputs_exist("d.npz")}),
        ("symlink-loop", ["loop.bin", "-T", "8", "-o", "d.npz"],
         {"lay": lambda ctx: ctx.path("loop.bin").symlink_to("loop.bin")}),
    ]:
        yield Case("events", f"frames-args/{name}", frames(*argv, **opts), name in ("T-10^9", "labels-from-folders"))

    def info(*argv: str, expect: str = "error", **kw: Any):
        def setup(ctx: Ctx) -> Run:
            ctx.copy("rec.bin")
            return cli("events", "info", *argv, expect=expect, **kw)
        return setup

    yield Case("events", "info-args/sensor-huge", info("rec.bin", "--sensor", "99999999999", "34"))
    yield Case("events", "info-args/sensor-negative", info("rec.bin", "--sensor", "-1", "34"))
    yield Case("events", "info-args/valid", info("rec.bin", expect="success",
                                                 check=lambda d, r: None if "200" in r["stdout"] else "no event count"))


# --------------------------------------------------------------------------------------------
# HTML reports: spikeforge report, and --report on the commands


def _report_variants() -> list[tuple[str, Callable[[Ctx], str], dict]]:
    """(name, lay(ctx) -> the input's name, options)."""
    def app_edit(change: Callable[[Path], None]):
        def lay(ctx: Ctx) -> str:
            app = ctx.copy("app")
            change(app)
            return "app"
        return lay

    def json_edit(name: str, change: Callable[[Any], Any]):
        def edit(app: Path) -> None:
            doc = read_json(app / name)
            doc = change(doc) or doc
            write_json(app / name, doc)
        return app_edit(edit)

    def file(name: str, content: bytes | str | Callable[[Ctx], bytes]):
        def lay(ctx: Ctx) -> str:
            ctx.write(name, content(ctx) if callable(content) else content)
            return name
        return lay

    def user_folder(ctx: Ctx) -> str:
        _user_folder(ctx, "results")
        return "results"

    def codesign_folder(csv_text: str):
        def lay(ctx: Ctx) -> str:
            d = ctx.path("cs")
            d.mkdir()
            (d / "sweep.csv").write_text(csv_text)
            (d / "pareto.csv").write_text(csv_text)
            (d / ".spikeforge").write_text("spikeforge output folder\n")
            return "cs"
        return lay

    return [
        ("random-bytes-file", file("r.bin", rbytes(2048, 41)), {"quick": True}),
        ("empty-file", file("r.json", b""), {}),
        ("json-array", file("r.json", "[1, 2, 3]"), {}),
        ("json-deep", file("r.json", _deep_json(100_000)), {}),
        ("json-not-utf8", file("r.json", b'{"\xff": 1}'), {}),
        ("placement-json-bogus", file("p.json", '{"format": "spikeforge-placement", "version": 1, "chips": "x"}'), {}),
        ("sdf3-truncated", file("g.xml", GRAPH_XML[: len(GRAPH_XML) // 2]), {}),
        ("sdf3-billion-laughs", file("g.xml", '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                                     + "".join(f'<!ENTITY {chr(98 + k)} "' + f"&{chr(97 + k)};" * 10 + '">'
                                               for k in range(8)) + ']><sdf3>&i;</sdf3>'), {"fast": True}),
        ("users-folder", user_folder, {"quick": True}),
        ("empty-folder", lambda ctx: (ctx.path("e").mkdir(), "e")[1], {}),
        ("artifact-json-truncated", app_edit(lambda app: (app / "artifact.json").write_text(
            (app / "artifact.json").read_text()[:200])), {"quick": True}),
        ("artifact-json-missing", app_edit(lambda app: (app / "artifact.json").unlink()), {}),
        ("artifact-json-nan-throughput", json_edit("artifact.json", lambda d: _deep_set(d, "throughput", float("nan"))),
         {"expect": "either"}),
        ("artifact-json-huge-numbers", json_edit("artifact.json", lambda d: _deep_set(d, "chips", 10 ** 12)),
         {"expect": "either", "fast": True}),
        ("artifact-files-replaced-by-folders", app_edit(lambda app: [
            (p.unlink(), p.mkdir()) for p in sorted(app.iterdir()) if p.is_file()]), {}),
        ("artifact-graph-replaced-by-a-folder", app_edit(lambda app: ((app / "graph.xml").unlink(),
                                                                       (app / "graph.xml").mkdir())),
         {"expect": "either"}),
        ("artifact-arrays-random", app_edit(lambda app: [p.write_bytes(rbytes(1000, 42)) for p in
                                                         sorted(app.rglob("*.npz"))]), {}),
        ("codesign-csv-garbage", codesign_folder("a,b\n\"unterminated\n"), {}),
        ("codesign-csv-nan", codesign_folder("bits,timesteps,pes,accuracy,latency_s,energy_j\n8,2,16,nan,inf,-1\n"),
         {"expect": "either"}),
        ("codesign-csv-empty", codesign_folder(""), {}),
        ("missing-input", lambda ctx: "nothing", {}),
        ("dev-zero", lambda ctx: (ctx.path("z.json").symlink_to("/dev/zero"), "z.json")[1], {"fast": True}),
        ("a-fifo", lambda ctx: (os.mkfifo(ctx.path("f.json")), "f.json")[1], {"fast": True}),
    ]


def _deep_set(doc: Any, key: str, value: Any) -> Any:
    """Set every ``key`` anywhere in a JSON document (no-op where it does not occur)."""
    if isinstance(doc, dict):
        for k in list(doc):
            if k == key:
                doc[k] = value
            else:
                _deep_set(doc[k], key, value)
    elif isinstance(doc, list):
        for item in doc:
            _deep_set(item, key, value)
    return doc


def report_cases() -> Iterator[Case]:
    for name, lay, opts in _report_variants():
        expect, fast = opts.get("expect", "error"), opts.get("fast", False)

        def setup(ctx: Ctx, lay=lay, expect=expect, fast=fast) -> Run:
            source = lay(ctx)
            return cli("report", source, "-o", "r.html", expect=expect, fast=fast, outputs=(ctx.path("r.html"),),
                       check=outputs_exist("r.html") if expect == "success" else None)
        yield Case("report", f"{name}/report", setup, opts.get("quick", False))

    def good(source: str):
        def setup(ctx: Ctx) -> Run:
            ctx.copy(source)
            return cli("report", source, "-o", "r.html", expect="success", outputs=(ctx.path("r.html"),),
                       check=_html_self_contained("r.html"))
        return setup

    yield Case("report", "valid-artifact/report", good("app"), True)
    yield Case("report", "valid-graph/report", good("graph.xml"))
    yield Case("report", "valid-codesign/report", good("cs"))

    def sweep(change: Callable[[list[list[str]]], None], expect: str = "error"):
        def setup(ctx: Ctx) -> Run:
            import csv

            folder = ctx.copy("cs")
            rows = list(csv.reader(io.StringIO((folder / "sweep.csv").read_text())))
            change(rows)
            text = io.StringIO()
            csv.writer(text).writerows(rows)
            (folder / "sweep.csv").write_text(text.getvalue())
            return cli("report", "cs", "-o", "r.html", expect=expect, outputs=(ctx.path("r.html"),),
                       check=_html_self_contained("r.html") if expect != "error" else None)
        return setup

    def column(name: str, value: str):
        def change(rows: list[list[str]]) -> None:
            k = rows[0].index(name)
            for row in rows[1:]:
                row[k] = value
        return change

    def placement(change: Callable[[dict], Any], expect: str = "error", fast: bool = False):
        def setup(ctx: Ctx) -> Run:
            doc = read_json(ctx.base["p.json"])
            change(doc)
            ctx.write("p.json", json.dumps(doc))
            return cli("report", "p.json", "-o", "r.html", expect=expect, fast=fast, outputs=(ctx.path("r.html"),),
                       check=_html_self_contained("r.html") if expect != "error" else None)
        return setup

    def each_cluster(key: str, value: Any):
        def change(doc: dict) -> None:
            for c in doc["clusters"]:
                c[key] = value
        return change

    yield Case("report", "valid-placement/report", good("p.json"), True)
    for name, change, opts in [
        ("chips-10^9", lambda d: d.update(chips=10 ** 9), {"fast": True}),
        ("chips-zero", lambda d: d.update(chips=0), {}),
        ("hardware-unknown", lambda d: d.update(hardware="bogus"), {}),
        ("cluster-core-10^9", each_cluster("core", 10 ** 9), {"fast": True}),
        ("cluster-core-negative", each_cluster("core", -1), {}),
        # the report places a cluster by its global core; chip, x and y repeat it and are not read
        ("cluster-chip-out-of-range", each_cluster("chip", 7), {"expect": "either"}),
        ("cluster-xy-off-the-mesh", lambda d: [c.update(x=10 ** 6, y=-3) for c in d["clusters"]], {"expect": "either"}),
        ("cluster-synapses-negative", each_cluster("synapses", -5), {}),
        ("cluster-spikes-nan", each_cluster("spikes_per_timestep", float("nan")), {}),
        ("cluster-columns-string", each_cluster("columns", "many"), {}),
        ("clusters-140k-copies", lambda d: d.update(clusters=d["clusters"] * 10_000), {"expect": "either"}),
        ("edges-to-missing-clusters", lambda d: d.update(edges=[[10 ** 9, 10 ** 9, 1.0]]), {}),
        ("edge-traffic-negative", lambda d: d.update(edges=[[0, 1, -4.0]]), {}),
        ("report-time-inf", lambda d: d["report"].update(time_s=float("inf")), {}),
        ("edges-not-a-list", lambda d: d.update(edges="x"), {}),
        ("report-energy-nan", lambda d: d["report"]["energy_j"].update({k: float("nan") for k in
                                                                        d["report"]["energy_j"]}), {}),
        ("report-missing", lambda d: d.pop("report"), {"expect": "either"}),
        ("format-version-2", lambda d: d.update(format="spikeforge-placement/2"), {}),
        ("timesteps-negative", lambda d: d.update(timesteps=-2), {}),
    ]:
        yield Case("report", f"placement-{name}/report", placement(change, **opts))

    yield Case("report", "codesign-accuracy-nan/report", sweep(column("accuracy", "nan")))
    yield Case("report", "codesign-accuracy-above-1/report", sweep(column("accuracy", "7")))
    yield Case("report", "codesign-latency-negative/report", sweep(column("latency_s", "-1")))
    yield Case("report", "codesign-energy-inf/report", sweep(column("energy_j", "inf")))
    yield Case("report", "codesign-bits-text/report", sweep(column("weight_bits", "eight")))
    yield Case("report", "codesign-pes-10^30/report", sweep(column("pes", str(10 ** 30)), expect="either"))
    yield Case("report", "codesign-no-rows/report", sweep(lambda rows: rows.__delitem__(slice(1, None)), "either"))
    yield Case("report", "codesign-column-missing/report", sweep(lambda rows: [r.pop(4) for r in rows]))


def _html_self_contained(name: str) -> Callable[[Path, dict], str | None]:
    def check(case_dir: Path, r: dict) -> str | None:
        path = case_dir / name
        if not path.is_file():
            return f"reported success but did not write {name}"
        text = path.read_text()
        if "<html" not in text.lower():
            return f"{name} is not an HTML page"
        return None
    return check


# --------------------------------------------------------------------------------------------
# codesign --search nsga2 and its cache folder


def _search_argv(*extra: str, out: str = "out", cache: str | None = None) -> list[str]:
    return codesign_argv("snn", out) + ["--search", "nsga2", "--workers", "0"] + \
        (["--cache", cache] if cache else []) + list(extra)


def search_cases() -> Iterator[Case]:
    def case(*extra: str, expect: str = "error", lay: Callable[[Ctx], Callable[[], None] | None] | None = None,
             cache: str | None = "cache", **kw: Any):
        def setup(ctx: Ctx) -> Run:
            _inputs(ctx)
            undo = lay(ctx) if lay else None
            if undo is False:
                return Run(argv=[], skip="chattr +i not supported here")
            return cli(*_search_argv(*extra, cache=cache), expect=expect, cleanup=undo if callable(undo) else None,
                       outputs=(ctx.path("out"),) + ((ctx.path(cache),) if cache else ()),
                       check=outputs_exist("out/sweep.csv") if expect == "success" else None, **kw)
        return setup

    def cache_with(files: dict[str, bytes | str]) -> Callable[[Ctx], None]:
        def lay(ctx: Ctx) -> None:
            for name, content in files.items():
                ctx.write(f"cache/{name}", content)
        return lay

    def read_only_cache(ctx: Ctx):
        ctx.path("cache").mkdir()
        (ctx.path("cache") / "notes.txt").write_text("mine")
        return immutable(ctx.path("cache")) or False

    def cache_is_users_folder(ctx: Ctx) -> None:
        _user_folder(ctx, "cache", git=True)

    yield Case("search", "trials-0", case("--trials", "0"), True)
    yield Case("search", "trials-negative", case("--trials", "-3"))
    yield Case("search", "trials-10^12", case("--trials", str(10 ** 12), expect="either", fast=True), True)
    yield Case("search", "trials-not-a-number", case("--trials", "many"))
    yield Case("search", "population-1", case("--population", "1"))
    yield Case("search", "population-10^12", case("--population", str(10 ** 12), expect="either", fast=True))
    yield Case("search", "seed-2^64", case("--seed", str(2 ** 64), expect="either"))
    yield Case("search", "trials-3", case("--trials", "3", expect="success"))
    yield Case("search", "cache-a-file", case("--trials", "3", lay=lambda ctx: ctx.write("cache", "my notes")), True)
    yield Case("search", "cache-garbage-files", case("--trials", "3", expect="either", lay=cache_with(
        {"points.json": "{", "sim.npz": rbytes(500, 52), "x/y.pkl": pickle.dumps({"a": 1})})))
    yield Case("search", "cache-read-only", case("--trials", "3", expect="either", lay=read_only_cache))
    yield Case("search", "cache-users-folder", case("--trials", "3", expect="either", lay=cache_is_users_folder))
    yield Case("search", "cache-equals-output", case("--trials", "3", lay=None, cache="out"))
    yield Case("search", "cache-equals-input", case("--trials", "3", cache="snn"))
    yield from _cache_cases()
    yield Case("search", "report-equals-output", case("--trials", "3", "--report", "out"))
    yield Case("search", "report-inside-output", case("--trials", "3", "--report", "out/r.html"))
    yield Case("search", "report-a-folder", case("--trials", "3", "--report", "results",
                                                  lay=lambda ctx: _user_folder(ctx, "results") and None))


def _cache_cases() -> Iterator[Case]:
    """The base's ``codesign --search nsga2`` cache (Optuna journal, finished points, simulations),
    damaged, under the same command: an error in one line or a run that recovers; the user's files
    never written through a link; pickles never loaded."""
    def journal(ctx: Ctx) -> Path:
        return next(ctx.path("cache").glob("study-*.log"))

    def damaged(change: Callable[[Ctx], list[Path] | None], expect: str = "either", fast: bool = False):
        def setup(ctx: Ctx) -> Run:
            _inputs(ctx)
            ctx.copy("cs-cache", "cache")
            forbidden = tuple(change(ctx) or ())
            argv = codesign_argv("snn", "out")
            argv[argv.index("--pes") + 1] = "16,32"
            return cli(*argv, "--search", "nsga2", "--trials", "4", "--workers", "0", "--cache", "cache",
                       expect=expect, fast=fast, forbidden=forbidden, replaceable=(ctx.path("cache"),),
                       outputs=(ctx.path("out"), ctx.path("cache")),
                       check=outputs_exist("out/sweep.csv") if expect != "error" else None)
        return setup

    def replace(content: Callable[[bytes], bytes]):
        def change(ctx: Ctx) -> None:
            j = journal(ctx)
            j.write_bytes(content(j.read_bytes()))
        return change

    def linked(target: str):
        def change(ctx: Ctx) -> None:
            j = journal(ctx)
            j.unlink()
            if target == "thesis":
                ctx.write("thesis.tex", "my thesis\n")
                j.symlink_to(Path("..") / "thesis.tex")
            else:
                j.symlink_to(target)
        return change

    def to_folder(ctx: Ctx) -> None:
        j = journal(ctx)
        j.unlink()
        j.mkdir()

    def arrays(content: Callable[[Ctx], bytes]):
        def change(ctx: Ctx) -> list[Path]:
            for p in ctx.path("cache").glob("*.npz"):
                p.write_bytes(content(ctx))
            return [ctx.path("PICKLED_CODE_RAN")]
        return change

    def evil_npz(ctx: Ctx) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, spikes=np.array([Evil(str(ctx.path("PICKLED_CODE_RAN")))], dtype=object))
        return buf.getvalue()

    def points(text: str):
        def change(ctx: Ctx) -> None:
            for p in ctx.path("cache").glob("*.json"):
                p.write_text(text)
        return change

    def unchanged(ctx: Ctx) -> None:
        return None

    for name, setup, quick in [
        ("resume-valid", damaged(unchanged, expect="success"), True),
        ("journal-random-bytes", damaged(replace(lambda b: rbytes(len(b), 71))), True),
        ("journal-truncated-mid-line", damaged(replace(lambda b: b[: len(b) * 2 // 3])), True),
        ("journal-garbage-line-appended", damaged(replace(lambda b: b + b'{"op_code": 99, "x": [\n')), False),
        ("journal-trial-id-huge", damaged(replace(lambda b: b + b'{"op_code":5,"worker_id":"w","trial_id":'
                                                   b'99999999999999,"param_name":"pes","param_value_internal":1,'
                                                   b'"distribution":"{}"}\n')), False),
        ("journal-not-utf8", damaged(replace(lambda b: b.replace(b"codesign", b"\xff\xfe", 1))), False),
        ("journal-empty", damaged(replace(lambda b: b"")), False),
        ("journal-a-folder", damaged(to_folder), False),
        ("journal-link-to-users-file", damaged(linked("thesis")), True),
        ("journal-link-to-dev-zero", damaged(linked("/dev/zero"), fast=True), False),
        ("simulations-random-bytes", damaged(arrays(lambda ctx: rbytes(3000, 72))), False),
        ("simulations-pickled-code", damaged(arrays(evil_npz)), True),
        ("points-truncated-json", damaged(points('{"accuracy": 0.')), False),
        ("points-nan-accuracy", damaged(points('{"accuracy": NaN, "latency_s": -1, "energy_j": Infinity}')), False),
    ]:
        yield Case("search", f"cache-{name}", setup, quick)


# --------------------------------------------------------------------------------------------
# where the new outputs go: export -o X.nir, import -o NET, events frames -o D.npz,
# report -o R.html, simulate --neurobench OUT.json, compile / analyse --report R.html

NEW_FILE_WRITERS: dict[str, Callable[[str], list[str]]] = {
    "export": lambda out: ["export", "snn", "-o", out],
    "events-frames": lambda out: ["events", "frames", "rec.bin", "-T", "4", "-o", out],
    "report": lambda out: ["report", "graph.xml", "-o", out],
    "neurobench": lambda out: simulate_argv() + ["--neurobench", out],
    "analyse-report": lambda out: analyse_argv() + ["--report", out],
    "compile-report": lambda out: compile_argv("model.pt", "app2") + ["--report", out],
}

#: The file each writer reads (an output there must be refused), and a folder among its inputs.
_NEW_INPUT = {"export": "snn/network.json", "events-frames": "rec.bin", "report": "graph.xml",
              "neurobench": "data.npz", "analyse-report": "graph.xml", "compile-report": "model.pt"}
_NEW_INPUT_FOLDER = {"export": "snn", "neurobench": "snn"}


def _new_inputs(ctx: Ctx) -> None:
    for fixture in ("model.pt", "data.npz", "snn", "graph.xml", "rec.bin"):
        ctx.copy(fixture)


def new_output_cases() -> Iterator[Case]:
    for writer, argv_for in NEW_FILE_WRITERS.items():
        cases: list[Case] = []

        def case(name: str, setup: Callable[[Ctx], Run], quick: bool = False, writer=writer, cases=cases) -> None:
            cases.append(Case("new-output", f"{name}/{writer}", setup, quick))

        def user_file(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            ctx.write("mine.out", "my results")
            return cli(*argv_for("mine.out"), expect="success", replaceable=(ctx.path("mine.out"),),
                       outputs=(ctx.path("mine.out"), ctx.path("app2")),
                       check=lambda d, r: None if "my results" not in (d / "mine.out").read_text(errors="replace")
                       else "not replaced")

        def a_folder(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            _user_folder(ctx, "results")
            return cli(*argv_for("results"), fast=True)

        def under_file(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            ctx.write("notes.txt", "my notes")
            return cli(*argv_for("notes.txt/r.out"), fast=True)

        def equal_input(ctx: Ctx, argv_for=argv_for, writer=writer) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for(_NEW_INPUT[writer]), fast=True)

        def inside_input(ctx: Ctx, argv_for=argv_for, writer=writer) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for(f"{_NEW_INPUT_FOLDER[writer]}/r.out"), fast=True)

        def read_only(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            return into_immutable_folder(ctx, argv_for, "r.out")

        def immutable_file(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            ctx.write("mine.out", "my results")
            undo = immutable(ctx.path("mine.out"))
            if undo is None:
                return Run(argv=[], skip="chattr +i not supported here")
            return cli(*argv_for("mine.out"), fast=True, cleanup=undo, outputs=(ctx.path("app2"),))

        def link_to_user_file(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            ctx.write("thesis.tex", "my thesis")
            ctx.path("r.out").symlink_to("thesis.tex")
            return cli(*argv_for("r.out"), expect="either", replaceable=(ctx.path("r.out"),),
                       outputs=(ctx.path("app2"),))

        def dangling_link(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            ctx.path("r.out").symlink_to("elsewhere/never.txt")
            return cli(*argv_for("r.out"), expect="either", replaceable=(ctx.path("r.out"),),
                       outputs=(ctx.path("app2"),))

        def non_utf8(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for("r\udcff.out"), expect="success", outputs=(ctx.path("app2"),),
                       check=lambda d, r: None if os.path.exists(os.fsencode(d) + b"/r\xff.out") else "not written")

        def empty_name(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for(""), fast=True)

        def cwd(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for("."), fast=True)

        def long_name(ctx: Ctx, argv_for=argv_for) -> Run:
            _new_inputs(ctx)
            return cli(*argv_for("x" * 300 + ".out"), fast=True)

        case("user-file-named", user_file, writer == "report")
        case("a-folder", a_folder, writer in ("export", "events-frames"))
        case("under-a-file", under_file)
        case("equal-to-input", equal_input, True)
        if writer in _NEW_INPUT_FOLDER:
            case("inside-input-folder", inside_input)
        case("read-only-folder", read_only)
        case("immutable-file", immutable_file)
        case("symlink-to-user-file", link_to_user_file)
        case("dangling-symlink", dangling_link)
        case("non-utf8-name", non_utf8)
        case("empty-name", empty_name)
        case("the-working-directory", cwd)
        case("name-300-characters", long_name)
        yield from cases

    # import -o NET: a folder writer
    def imp(out: str, expect: str = "error", lay: Callable[[Ctx], Any] | None = None, **kw: Any):
        def setup(ctx: Ctx) -> Run:
            _new_inputs(ctx)
            ctx.copy("net.nir")
            if lay:
                lay(ctx)
            return cli("import", "net.nir", "-o", out, expect=expect, **kw)
        return setup

    def earlier(ctx: Ctx) -> None:
        import shutil

        shutil.copytree(ctx.base["snn8"], ctx.path("old"))

    yield Case("new-output", "user-folder-with-network-json/import", imp(
        "results", lay=lambda ctx: _user_folder(ctx, "results", network_json=True)), True)
    yield Case("new-output", "user-folder-with-git/import", imp("results", lay=lambda ctx: _user_folder(
        ctx, "results", git=True)))
    yield Case("new-output", "equal-to-input/import", imp("net.nir"), True)
    yield Case("new-output", "a-file/import", imp("notes.txt", lay=lambda ctx: ctx.write("notes.txt", "mine")))
    yield Case("new-output", "the-working-directory/import", imp("."))
    yield Case("new-output", "symlink-to-user-folder/import", imp("results", lay=lambda ctx: (
        _user_folder(ctx, "thesis"), ctx.path("results").symlink_to("thesis"))))
    yield Case("new-output", "earlier-output/import", lambda ctx: imp(
        "old", expect="success", lay=earlier, replaceable=(ctx.path("old"),), outputs=(ctx.path("old"),),
        check=network_is_finite("old"))(ctx))
    yield Case("new-output", "non-utf8-name/import", lambda ctx: imp(
        "n\udcff", expect="success", outputs=(ctx.path("n\udcff"),),
        check=lambda d, r: None if os.path.isdir(os.fsencode(d) + b"/n\xff") else "not written")(ctx))

    # two outputs of one command at the same path
    def same(*extra: str):
        def setup(ctx: Ctx) -> Run:
            _new_inputs(ctx)
            return cli(*simulate_argv(), *extra, fast=True)
        return setup

    yield Case("new-output", "neurobench-equal-json/simulate", same("--json", "r.json", "--neurobench", "r.json"), True)
    yield Case("new-output", "report-equal-output/compile", lambda ctx: (
        _new_inputs(ctx), cli(*compile_argv("model.pt", "app2"), "--report", "app2", fast=True))[1])
    yield Case("new-output", "report-equal-json/analyse", lambda ctx: (
        _new_inputs(ctx), cli(*analyse_argv(), "--json", "r.out", "--report", "r.out", fast=True))[1])


# --------------------------------------------------------------------------------------------
# simulate --neurobench and --backend sanafe


def backend_cases() -> Iterator[Case]:
    def case(*extra: str, net: str = "snn8", expect: str = "error", lay: Callable[[Ctx], Any] | None = None,
             **kw: Any):
        def setup(ctx: Ctx) -> Run:
            _new_inputs(ctx)
            ctx.copy("snn8")
            if lay:
                lay(ctx)
            return cli("simulate", net, "--data", "data.npz", "-T", "2", "--samples", "2", *extra, expect=expect,
                       **kw)
        return setup

    def nb_ok(case_dir: Path, r: dict) -> str | None:
        path = case_dir / "nb.json"
        if not path.is_file():
            return "no nb.json written"
        text = path.read_text()
        if "NaN" in text or "Infinity" in text:
            return "NaN or Infinity in the NeuroBench JSON"
        return None

    yield Case("backends", "sanafe-float-network", case("--backend", "sanafe", net="snn", expect="either"))
    yield Case("backends", "sanafe-unknown-hw", case("--backend", "sanafe", "--hw", "bogus"), True)
    yield Case("backends", "sanafe-accelerator-hw", case("--backend", "sanafe", "--hw", "pynq-z2-accel"))
    yield Case("backends", "sanafe-hw-random-toml", case("--backend", "sanafe", "--hw", "h.toml",
                                                         lay=lambda ctx: ctx.write("h.toml", rbytes(300, 61))))
    yield Case("backends", "sanafe-json-a-folder", case("--backend", "sanafe", "--json", "results",
                                                        lay=lambda ctx: _user_folder(ctx, "results")))
    yield Case("backends", "sanafe-valid", case("--backend", "sanafe", "--json", "r.json", expect="success",
                                                check=outputs_exist("r.json")), True)
    yield Case("backends", "neurobench-valid", case("--neurobench", "nb.json", net="snn", expect="success",
                                                    check=nb_ok), True)
    yield Case("backends", "neurobench-quantised", case("--neurobench", "nb.json", expect="success", check=nb_ok))
    yield Case("backends", "neurobench-no-labels", case("--neurobench", "nb.json", net="snn", expect="either",
                                                        lay=lambda ctx: ctx.write("data.npz", npz_of(
                                                            x=np.load(ctx.base["data.npz"])["x"])), check=nb_ok))
    yield Case("backends", "neurobench-nan-data", case("--neurobench", "nb.json", net="snn", lay=lambda ctx: ctx.write(
        "data.npz", npz_of(x=np.full((4, 1, 8, 8), np.nan, np.float32), y=np.zeros(4, np.int64)))))
    yield Case("backends", "neurobench-nir-model", case("--neurobench", "nb.json", net="net.nir", expect="success",
                                                        lay=lambda ctx: (ctx.copy("net.nir"), _temporal_data(ctx)),
                                                        check=nb_ok))
    def read_only(ctx: Ctx) -> Run:
        ctx.path("ro").mkdir()
        undo = immutable(ctx.path("ro"))
        if undo is None:
            return Run(argv=[], skip="chattr +i not supported here")
        return case("--neurobench", "ro/nb.json", net="snn", cleanup=undo, fast=True)(ctx)

    yield Case("backends", "neurobench-read-only-folder", read_only)


# --------------------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[[], Iterator[Case]]] = {
    "model": model_cases, "data": data_cases, "network": network_cases, "hardware": hardware_cases,
    "sdf3": sdf3_cases, "artifact": artifact_cases, "cli-args": args_cases, "output": output_cases,
    "api": api_cases, "fuzz": fuzz_cases, "nir": nir_cases, "events": events_cases, "report": report_cases,
    "search": search_cases, "new-output": new_output_cases, "backends": backend_cases,
}


def all_cases(classes: list[str] | None = None) -> list[Case]:
    """Every case of the given input classes (default: all), in a stable order; ids are unique."""
    cases: list[Case] = []
    for cls, gen in GENERATORS.items():
        if classes and cls not in classes:
            continue
        cases.extend(gen())
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate case ids: {sorted(dupes)[:5]}")
    return cases
