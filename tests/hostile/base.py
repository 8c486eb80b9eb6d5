"""The small valid inputs every hostile case starts from, built once per campaign.

``build_base(folder, env)`` writes

``model.pt``         a model file (``{"architecture": "digits-cnn", "options": {}, "state_dict"}``)
``bare.pt``          the bare state dict of the same model
``data.npz``         32 scikit-learn digits (x (32, 1, 8, 8) float32 in [0, 1], y int64)
``snn/``             the converted SNN (``spikeforge convert``)
``snn8/``            its 8-bit integer network (``spikeforge quantize``)
``app/``             a deployment artifact on ``xbar-mesh`` at T = 4 (``spikeforge compile``)
``xbar.toml``        the ``xbar-mesh`` preset as a TOML file of the user's
``accel.toml``       the ``pynq-z2-accel`` accelerator preset as a TOML file of the user's
``graph.xml``        a small consistent SDF3 graph (throughput 2/5)
``net.nir``          the SNN as a NIR graph (``spikeforge export``)
``rec.bin``          an N-MNIST recording (200 events on the 34 × 34 sensor, 0.2 s)
``rec.npy``          the same events as a structured array (fields t, x, y, p)
``nmnist/``          N-MNIST's layout: ``0/a.bin``, ``0/b.bin``, ``1/c.bin`` (labels from folders)
``cs/``, ``cs-cache/`` a ``codesign --search nsga2`` output and its cache (the Optuna journal)
``p.json``           a ``map`` placement on ``xbar-mesh`` (what ``report`` reads)
``sdf/``             the real SDF3 examples of ``../shared/data/sdf`` when present

The model, data and files are written here with torch, numpy and scikit-learn only; the
network folders and the artifact by the spikeforge under test (its CLI, in a subprocess with
``env``), so they are in whatever format that spikeforge writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED_SDF = Path(os.environ.get("SPIKEFORGE_DATA", ROOT.parent / "shared" / "data")) / "sdf"

#: A consistent SDF3 graph: producer P, filter F, consumer C with self-loops; throughput 2/5.
GRAPH_XML = """<?xml version="1.0"?>
<sdf3 type="sdf" version="1.0">
<applicationGraph name="g">
<sdf name="g" type="G">
<actor name="P" type="t">
<port name="o0" type="out" rate="1"/><port name="i0" type="in" rate="1"/>
<port name="o1" type="out" rate="1"/><port name="i2" type="in" rate="1"/>
</actor>
<actor name="F" type="t">
<port name="i1" type="in" rate="1"/><port name="o2" type="out" rate="1"/>
<port name="o3" type="out" rate="1"/><port name="i4" type="in" rate="1"/>
</actor>
<actor name="C" type="t">
<port name="i3" type="in" rate="1"/><port name="o4" type="out" rate="1"/>
<port name="o5" type="out" rate="1"/><port name="i5" type="in" rate="1"/>
</actor>
<channel name="ch0" srcActor="P" srcPort="o0" dstActor="P" dstPort="i0" initialTokens="1"/>
<channel name="ch1" srcActor="P" srcPort="o1" dstActor="F" dstPort="i1" initialTokens="0"/>
<channel name="ch2" srcActor="F" srcPort="o2" dstActor="P" dstPort="i2" initialTokens="2"/>
<channel name="ch3" srcActor="F" srcPort="o3" dstActor="C" dstPort="i3" initialTokens="0"/>
<channel name="ch4" srcActor="C" srcPort="o4" dstActor="F" dstPort="i4" initialTokens="2"/>
<channel name="ch5" srcActor="C" srcPort="o5" dstActor="C" dstPort="i5" initialTokens="1"/>
</sdf>
<sdfProperties>
<actorProperties actor="P"><processor type="p" default="true"><executionTime time="2"/></processor></actorProperties>
<actorProperties actor="F"><processor type="p" default="true"><executionTime time="3"/></processor></actorProperties>
<actorProperties actor="C"><processor type="p" default="true"><executionTime time="1"/></processor></actorProperties>
</sdfProperties>
</applicationGraph>
</sdf3>
"""

GRAPH_THROUGHPUT = "2/5"


def digits_cnn():
    """The ``digits-cnn`` architecture of spikeforge's model zoo, built with torch alone (same
    layers, so its state dict loads into spikeforge's)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10))


def digits_data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images[:n] / 16.0).astype(np.float32)[:, None]
    return x, bunch.target[:n].astype(np.int64)


def nmnist_bytes(events: np.ndarray) -> bytes:
    """The N-MNIST binary encoding (5 bytes an event: x, y, p and a 23-bit µs timestamp) of a
    structured array with fields t, x, y, p; the inverse of ``spikeforge.events.read_nmnist``."""
    t = events["t"].astype(np.int64) % (1 << 23)
    raw = np.stack([events["x"], events["y"], (events["p"].astype(np.int64) << 7) | (t >> 16),
                    (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()


def recording(n: int = 200, seed: int = 0, duration_us: int = 200_000) -> np.ndarray:
    """``n`` random events on the 34 × 34 sensor over ``duration_us``, in time order."""
    rng = np.random.default_rng(seed)
    events = np.zeros(n, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
    events["t"] = np.sort(rng.integers(0, duration_us, n))
    events["x"], events["y"], events["p"] = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    return events


def preset_text(*parts: str) -> str:
    """The text of a shipped preset file, read from the spikeforge source tree under test."""
    import importlib.util

    spec = importlib.util.find_spec("spikeforge")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("spikeforge is not importable")
    return Path(list(spec.submodule_search_locations)[0], "hardware", "presets", *parts).read_text()


class BaseBuildError(RuntimeError):
    """The spikeforge under test could not build the valid inputs the cases start from."""


@dataclass(frozen=True)
class Base:
    """Paths of the valid inputs (read-only for cases: each case copies what it uses)."""

    dir: Path

    def __getitem__(self, name: str) -> Path:
        return self.dir / name

    @property
    def sdf_examples(self) -> list[Path]:
        folder = self.dir / "sdf"
        return sorted(folder.glob("*.xml")) if folder.is_dir() else []

    @property
    def sdf_expected(self) -> dict:
        path = self.dir / "sdf" / "expected.json"
        return json.loads(path.read_text())["graphs"] if path.is_file() else {}


def cli_command() -> list[str]:
    """How a subprocess runs the spikeforge CLI: this interpreter with ``-m spikeforge.cli``."""
    return [sys.executable, "-m", "spikeforge.cli"]


def build_base(folder: str | os.PathLike, env: dict[str, str] | None = None, *,
               artifact: bool = True, timeout: float = 600) -> Base:
    """Write the valid inputs into ``folder`` (made if missing); see the module docstring.

    Raises
    ------
    BaseBuildError
        A spikeforge command that builds a fixture failed (its stderr is quoted).
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = digits_cnn()
    torch.save({"architecture": "digits-cnn", "options": {}, "state_dict": model.state_dict()},
               folder / "model.pt")
    torch.save(model.state_dict(), folder / "bare.pt")
    x, y = digits_data()
    np.savez(folder / "data.npz", x=x, y=y)
    (folder / "graph.xml").write_text(GRAPH_XML)
    (folder / "xbar.toml").write_text(preset_text("xbar-mesh.toml"))
    (folder / "accel.toml").write_text(preset_text("accelerators", "pynq-z2-accel.toml"))
    events = recording()
    (folder / "rec.bin").write_bytes(nmnist_bytes(events))
    np.save(folder / "rec.npy", events)
    for name, seed in (("0/a.bin", 1), ("0/b.bin", 2), ("1/c.bin", 3)):
        (folder / "nmnist" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "nmnist" / name).write_bytes(nmnist_bytes(recording(100, seed)))
    if SHARED_SDF.is_dir():
        shutil.copytree(SHARED_SDF, folder / "sdf", dirs_exist_ok=True)

    def run(*argv: str) -> None:
        try:
            r = subprocess.run(cli_command() + list(argv), cwd=folder, env=env, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BaseBuildError(f"spikeforge {' '.join(argv)}: no answer in {timeout:.0f} s") from None
        if r.returncode != 0:
            raise BaseBuildError(f"spikeforge {' '.join(argv)} failed ({r.returncode}): "
                                 f"{r.stderr.strip()[-2000:]}")

    if not (folder / "snn").is_dir():
        run("convert", "model.pt", "--calib", "data.npz", "-o", "snn")
    if not (folder / "snn8").is_dir():
        run("quantize", "snn", "-o", "snn8")
    if not (folder / "net.nir").is_file():
        run("export", "snn", "-o", "net.nir")
    if not (folder / "p.json").is_file():
        run("map", "snn", "--hw", "xbar-mesh", "--calib", "data.npz", "-o", "p.json", "-T", "2", "--samples", "8",
            "--partitioner", "tiles", "--placer", "fill")
    if not (folder / "cs").is_dir():
        run("codesign", "snn", "--data", "data.npz", "--bits", "8", "-T", "2", "--pes", "16,32", "-o", "cs",
            "--samples", "8", "-q", "--search", "nsga2", "--trials", "3", "--workers", "0", "--cache", "cs-cache")
    if artifact and not (folder / "app").is_dir():
        run("compile", "model.pt", "--hw", "xbar-mesh", "--calib", "data.npz", "-o", "app", "-T", "4",
            "--partitioner", "tiles", "--placer", "fill")
    return Base(folder)
