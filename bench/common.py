"""Shared benchmark helpers: where the real data lives, and results written as JSON with the
machine, library versions and date beside the figures."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = Path(os.environ.get("SPIKEFORGE_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(os.environ.get("SPIKEFORGE_CACHE", Path.home() / ".cache" / "spikeforge"))


def machine() -> dict[str, Any]:
    """The machine and library versions a figure was measured with."""
    versions = {}
    for package in ("spikeforge", "torch", "numpy", "scipy", "networkx", "spikingjelly", "sinabs", "pymetis",
                    "kahypar"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = None
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": threads,
            "python": sys.version.split()[0], "versions": versions,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/NAME.json`` atomically: {"machine": ..., **figures}."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "machine": machine(), **figures}, indent=1, default=float))
    os.replace(tmp, path)
    return path


def require_data(*parts: str) -> Path:
    """Path of a data folder under ../shared/data, or exit with a clear reason when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"skipped: {path} not found (real data lives in ../shared/data; set SPIKEFORGE_DATA)")
    return path
