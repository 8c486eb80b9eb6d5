"""SpikingJelly 2.0.0 worker of ``bench/conversion_suite.py``: run in the peers' venv (``.venv-bench``).

Loads one net's cached weights and the suite's data slice (the same test images and calibration
images as spikeforge's side: ``bench.conversion_suite.test_slice`` / ``calibration``), converts it
with SpikingJelly's documented API — ``ann2snn.Converter(RateCodingRecipe(dataloader, mode=...))``
with its defaults (layer-wise scales, IF neurons with soft reset, membrane starting at 0), modes
'max' and '99.9%' — and prints one JSON line on stdout: accuracy at each T per mode (the
documented single-step loop: ``reset_net``, then the summed outputs of T steps), and images/s at
T = 8 for batch 64 and 256 (the 'max' network; the faster of the single-step loop and
``set_step_mode(net, 'm')`` with the input repeated T times).

SpikingJelly's recipe replaces ``nn.ReLU`` modules only: an activation it leaves as an analog op
(``F.relu``, ``nn.ReLU6``, ``nn.Hardtanh``, QCFS's floor/clamp) would make its "SNN" partly an ANN,
so such a conversion is reported as an error naming what was left, not as an accuracy.

    .venv-bench/bin/python bench/conversion_suite_sj.py --net lenet --samples 2000
"""

from __future__ import annotations

import argparse
import copy
import json
import operator
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.conversion_nets import NETS
from bench.conversion_suite import (
    CALIB,
    REPEAT,
    SPEED_BATCHES,
    SPEED_IMAGES,
    SPEED_T,
    best_time,
    calibration,
    load_trained,
    one_line,
    score,
    test_slice,
)

MODES = ("max", "99.9%")
CALIB_BATCH = 100
#: Analog activations SpikingJelly's rate-coding recipe does not turn into neurons.
_LEFT_FUNCTIONS = {F.relu, torch.relu, F.relu6, F.hardtanh, torch.floor, torch.clamp, torch.clip, F.gelu,
                   torch.sigmoid, torch.tanh}
_LEFT_METHODS = {"relu", "relu_", "clamp", "clamp_", "clip", "floor", "floor_"}
_LEFT_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh)


def left_unconverted(net: nn.Module) -> list[str]:
    """The analog activations still in a converted graph: 'what at where' each."""
    if not isinstance(net, fx.GraphModule):
        return []
    modules = dict(net.named_modules())
    left = []
    for node in net.graph.nodes:
        if node.op == "call_function" and node.target in _LEFT_FUNCTIONS:
            left.append(f"{node.target.__name__} at {node.name}")
        elif node.op == "call_method" and node.target in _LEFT_METHODS:
            left.append(f".{node.target}() at {node.name}")
        elif node.op == "call_module":
            m = modules.get(node.target)
            inner = getattr(m, "module", None) or getattr(m, "op", None)  # step-mode wrappers
            for cand in (m, inner):
                if isinstance(cand, _LEFT_MODULES):
                    left.append(f"{type(cand).__name__} at {node.target}")
                    break
            name = getattr(m, "op_name", "")
            if name and any(k in str(name) for k in ("relu", "clamp", "floor", "hardtanh")):
                left.append(f"{name} at {node.target}")
    return left


def convert_sj(model: nn.Module, calib: np.ndarray, mode: str) -> nn.Module:
    from spikingjelly.activation_based import ann2snn

    loader = [torch.as_tensor(calib[s:s + CALIB_BATCH]) for s in range(0, len(calib), CALIB_BATCH)]
    recipe = ann2snn.recipes.RateCodingRecipe(loader, mode=mode)
    snn = ann2snn.Converter(recipe).convert(copy.deepcopy(model)).eval()
    left = left_unconverted(snn)
    neurons = sum(1 for m in snn.modules() if type(m).__name__ == "IFNode")
    if left:
        raise RuntimeError(f"SpikingJelly's RateCodingRecipe converted {neurons} activation(s) to IFNode and left "
                           f"{len(left)} as analog ops ({', '.join(left[:3])}{', …' if len(left) > 3 else ''}): it "
                           "replaces nn.ReLU modules only")
    if not neurons:
        raise RuntimeError("SpikingJelly's RateCodingRecipe found no nn.ReLU module to convert")
    return snn


def single_step_outputs(net: nn.Module, xb: torch.Tensor, timesteps: int, checkpoints=()) -> tuple[torch.Tensor, dict]:
    """SpikingJelly's documented evaluation: reset, then sum the outputs of T steps on the same input."""
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    total, at = None, {}
    for t in range(1, timesteps + 1):
        step = net(xb)
        total = step if total is None else total + step
        if t in checkpoints:
            at[t] = total / t
    return total / timesteps, at


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, timesteps: list[int], batch: int) -> dict[int, float]:
    outs: dict[int, list[np.ndarray]] = {t: [] for t in timesteps}
    with torch.inference_mode():
        for s in range(0, len(x), batch):
            _, at = single_step_outputs(net, torch.as_tensor(x[s:s + batch]), max(timesteps), set(timesteps))
            for t in timesteps:
                outs[t].append(at[t].numpy())
    return {t: score(np.concatenate(outs[t]), y) for t in timesteps}


def speed(net: nn.Module, x: np.ndarray) -> dict:
    from spikingjelly.activation_based import functional

    xs = torch.as_tensor(np.resize(x, (SPEED_IMAGES, *x.shape[1:])))
    multi = copy.deepcopy(net)
    functional.set_step_mode(multi, "m")

    def run_single(b: int) -> None:
        with torch.inference_mode():
            for s in range(0, len(xs), b):
                single_step_outputs(net, xs[s:s + b], SPEED_T)

    def run_multi(b: int) -> None:
        with torch.inference_mode():
            for s in range(0, len(xs), b):
                functional.reset_net(multi)
                xb = xs[s:s + b]
                multi(xb.unsqueeze(0).expand(SPEED_T, *xb.shape).contiguous()).mean(0)

    out = {}
    for b in SPEED_BATCHES:
        single = best_time(lambda b=b: run_single(b), REPEAT)
        entry = {"single_step_images_per_s": SPEED_IMAGES / single}
        try:
            entry["multi_step_images_per_s"] = SPEED_IMAGES / best_time(lambda b=b: run_multi(b), REPEAT)
        except Exception as exc:  # noqa: BLE001 - the multi-step mode is an extra; the loop is the documented use
            entry["multi_step_error"] = one_line(exc)
        best = max(("single-step", entry["single_step_images_per_s"]),
                   ("multi-step", entry.get("multi_step_images_per_s", 0.0)), key=operator.itemgetter(1))
        entry["images_per_s"], entry["step_mode"] = best[1], best[0]
        out[b] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True, choices=list(NETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--calib", type=int, default=CALIB)
    parser.add_argument("--timesteps", default="1,2,4,8,16,32,64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-accuracy", action="store_true", help="convert with mode 'max' and time it only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import spikingjelly
    from spikingjelly.logger import logger

    logger.remove()  # its conversion log would go to stderr; the JSON alone goes to stdout
    spec = NETS[args.net]
    timesteps = [int(t) for t in args.timesteps.split(",")]
    model = load_trained(spec, args.seed)
    x, y = test_slice(spec, args.samples)
    calib = calibration(spec, args.calib)
    batch = 64 if spec.data == "isbi2012" else 128
    result: dict = {"version": getattr(spikingjelly, "__version__", None), "modes": {}}
    if args.no_accuracy:
        result.pop("modes")
    try:
        from importlib.metadata import version

        result["version"] = version("spikingjelly")
    except Exception:  # noqa: BLE001, S110
        pass
    nets = {}
    for mode in ("max",) if args.no_accuracy else MODES:
        started = time.perf_counter()
        try:
            nets[mode] = convert_sj(model, calib, mode)
            if args.no_accuracy:
                continue
            acc = accuracy(nets[mode], x, y, timesteps, batch)
            result["modes"][mode] = {"accuracy": acc, "seconds": time.perf_counter() - started}
        except Exception as exc:  # noqa: BLE001 - record and go on
            result.setdefault("modes", {})[mode] = {"error": one_line(exc)}
    if not args.no_speed and "max" in nets:
        result["speed"] = speed(nets["max"], x)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
