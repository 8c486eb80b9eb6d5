"""The API worker: runs hostile API snippets one at a time for :class:`hostile.runner.ApiWorker`.

``python worker.py BASE_DIR``: reads JSON lines ``{"code": ..., "cwd": ...}`` on stdin, runs
each snippet in a fresh namespace (``D`` = the case folder, ``F`` = the fixtures of BASE_DIR,
loaded lazily, ``expect(cond, msg)``), and answers one JSON line per snippet on its real stdout:
``{"status": "ok" | "raised" | "wrong", ...}``. Whatever the snippet prints goes to stderr.
``run_snippet`` is also used in-process by ``tests/test_hostile.py``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


class WrongResult(Exception):
    """A snippet found a wrong result (raised by ``expect``)."""


def expect(condition: Any, message: str = "") -> None:
    if not condition:
        raise WrongResult(message or "unexpected result")


class Fixtures:
    """The valid inputs, loaded on first use. Mutable objects (torch modules) are built anew on
    every access so a snippet that changes one cannot spoil the next."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def __getitem__(self, name: str) -> Path:
        return self.base / name

    @property
    def model(self):
        """A fresh digits-cnn torch module with the fixture's weights."""
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from hostile.base import digits_cnn

        m = digits_cnn()
        m.load_state_dict(torch.load(self.base / "bare.pt", weights_only=True))
        return m.eval()

    @property
    def x(self):
        import numpy as np

        return self._get("x", lambda: np.load(self.base / "data.npz")["x"]).copy()

    @property
    def y(self):
        import numpy as np

        return self._get("y", lambda: np.load(self.base / "data.npz")["y"]).copy()

    @property
    def ann(self):
        from spikeforge.frontends.torch_fx import import_torch

        return self._get("ann", lambda: import_torch(self.model, (1, 8, 8), name="ann"))

    @property
    def snn(self):
        from spikeforge.ir.serialize import load_network

        return self._get("snn", lambda: load_network(self.base / "snn"))

    @property
    def q(self):
        from spikeforge.quantize import load_quantized

        return self._get("q", lambda: load_quantized(self.base / "snn8"))

    @property
    def hw(self):
        from spikeforge.hardware import load_hardware

        return self._get("hw", lambda: load_hardware("xbar-mesh"))

    @property
    def accel(self):
        from spikeforge.hardware.accelerator import load_accelerator

        return self._get("accel", lambda: load_accelerator("pynq-z2-accel"))

    @property
    def profile(self):
        from spikeforge.sim.simulator import simulate

        return self._get("profile", lambda: simulate(self.snn, self.x, timesteps=4).profile)

    @property
    def part(self):
        from spikeforge.mapping.partition import partition

        return self._get("part", lambda: partition(self.snn, self.profile, self.hw, strategy='tiles'))

    @property
    def placement(self):
        from spikeforge.mapping.place import place

        return self._get("placement", lambda: place(self.part, self.hw, strategy="fill"))

    @property
    def graph(self):
        from spikeforge.dataflow.sdf3 import read_sdf3

        return self._get("graph", lambda: read_sdf3(self.base / "graph.xml"))

    @property
    def artifact(self):
        from spikeforge.artifact import load_artifact

        return self._get("artifact", lambda: load_artifact(self.base / "app"))

    @property
    def platform(self):
        from spikeforge.dataflow.binding import Platform

        return self._get("platform", lambda: Platform.from_hardware(self.hw))


def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "spikeforge" in f.filename and "worker.py" not in f.filename]
    f = ours[-1] if ours else (frames[-1] if frames else None)
    if f is None:
        return ""
    name = f.filename
    if "spikeforge/" in name:
        name = "spikeforge/" + name.split("spikeforge/", 1)[1]
    return f"{name}:{f.lineno} in {f.name}"


def run_snippet(code: str, case_dir: Path, fixtures: Fixtures) -> dict[str, Any]:
    """Run ``code``; the answer as a JSON-ready dict (never raises, except KeyboardInterrupt)."""
    from spikeforge.errors import SpikeforgeError

    ns: dict[str, Any] = {"D": Path(case_dir), "F": fixtures, "expect": expect, "Path": Path,
                          "__name__": "__hostile__"}
    try:
        exec(compile(code, "<case>", "exec"), ns)
    except WrongResult as exc:
        return {"status": "wrong", "message": str(exc)[:500]}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 — classifying every exception is the point
        message = " ".join(str(exc).split())[:400]
        return {"status": "raised", "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "spikeforge_error": isinstance(exc, SpikeforgeError), "message": message,
                "where": _where(exc.__traceback__)}
    return {"status": "ok", "message": str(ns.get("result_note", ""))[:300]}


def main() -> None:
    base = Path(sys.argv[1])
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the API prints goes to stderr, not into the answers
    sys.stdout = sys.stderr
    import numpy  # noqa: F401 — imported before the first snippet so its time is not counted
    import torch  # noqa: F401

    torch.set_num_threads(1)
    import spikeforge.errors  # noqa: F401

    fixtures = Fixtures(base)
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        cwd = Path(request["cwd"])
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir(base)
        answer = run_snippet(request["code"], cwd, fixtures)
        os.chdir(base)
        out.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
