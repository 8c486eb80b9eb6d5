"""Images per second at T = 8 on CPU: spikeforge vs SpikingJelly 2.0 (multi-step) vs sinabs.

The same converted SNN (spikeforge's ANN→SNN conversion, calibrated on the benchmark inputs) runs
in all three tools, side by side in one process, on the same inputs and with the same number of
torch threads:

* ``digits-cnn`` trained briefly on scikit-learn's digits, run on the digits test split;
* ``vgg`` (config ``small``, width 0.5, no BatchNorm) with random weights on random [0, 1)
  inputs of 3×32×32 (weights do not matter for speed; conversion with calibration on those inputs
  keeps spike rates realistic).

The peers get exactly spikeforge's weights and thresholds: SpikingJelly ``IFNode`` (reset by
subtraction, ``step_mode='m'``) and sinabs ``IAFSqueeze`` (``MembraneSubtract``,
``spike_fn=SingleSpike`` so at most one spike per neuron per step, as in spikeforge), both with
the initial membrane potential spikeforge uses (``v_init · θ``). Before timing, all three are
checked to agree: argmax predictions, read-outs and spike counts per layer.

The peers are benchmark-only dependencies; install them in a separate venv::

    python -m venv .venv-bench
    .venv-bench/bin/pip install -r bench/requirements-peers.txt
    .venv-bench/bin/pip install -e .
    .venv-bench/bin/python bench/sim_speed.py

Writes ``bench/results/sim_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, write_results
from spikeforge.convert.normalise import convert
from spikeforge.datasets import digits
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir import network as ir
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate

T = 8
TARGET = 2.0  # spikeforge images/s ≥ TARGET × the faster peer's


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def digits_case(epochs: int) -> tuple[ir.Network, torch.Tensor, np.ndarray]:
    from spikeforge.train import fit

    model, shape = build_model("digits-cnn")
    torch.manual_seed(0)
    train, test = digits("train"), digits("test")
    fit(model, train, epochs=epochs, seed=0)
    snn = convert(import_torch(model, shape, name="digits-cnn"), train.x)
    return snn, torch.as_tensor(test.x), test.y


def vgg_case(samples: int) -> tuple[ir.Network, torch.Tensor, None]:
    torch.manual_seed(0)
    model, shape = build_model("vgg", config="small", width=0.5, batch_norm=False)
    x = np.random.default_rng(0).random((samples, *shape), dtype=np.float32)
    snn = convert(import_torch(model, shape, name="vgg-small-w0.5"), x)
    return snn, torch.as_tensor(x), None


def _chain(snn: ir.Network) -> list[ir.Node]:
    """The SNN's layers in order; the peers are built as plain sequential stacks."""
    nodes = [n for n in snn.nodes if not isinstance(n, ir.Input)]
    prev = snn.input.name
    for n in nodes:
        if n.inputs != (prev,) or not isinstance(n, (ir.Conv2d, ir.Linear, ir.AvgPool2d, ir.Flatten, ir.IF)):
            raise SystemExit(f"layer {n.name} ({type(n).__name__}): peers are built for sequential "
                             f"Conv2d/Linear/AvgPool2d/Flatten/IF stacks only")
        if isinstance(n, ir.IF) and n.threshold.ndim:
            raise SystemExit(f"layer {n.name}: per-channel thresholds; convert with balance='weights'")
        prev = n.name
    return nodes


def _torch_layer(node: ir.Node, conv: type, linear: type, pool: type, flatten: type, **kw) -> nn.Module:
    if isinstance(node, ir.Conv2d):
        w = node.weight
        m = conv(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[2:]), stride=node.stride,
                 padding=node.padding, dilation=node.dilation, groups=node.groups, bias=node.bias is not None, **kw)
    elif isinstance(node, ir.Linear):
        m = linear(node.weight.shape[1], node.weight.shape[0], bias=node.bias is not None, **kw)
    elif isinstance(node, ir.AvgPool2d):
        return pool(node.kernel, node.stride, node.padding, **kw)
    else:
        return flatten(**kw)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(np.array(node.weight)))
        if node.bias is not None:
            m.bias.copy_(torch.from_numpy(np.array(node.bias)))
    return m


# ---------------------------------------------------------------------------------------------
# Runners: each is f(x, batch_size) -> (N, classes) read-out (mean over T of the last layer)
# ---------------------------------------------------------------------------------------------
def _batches(x: torch.Tensor, b: int):
    for s in range(0, x.shape[0], b):
        yield x[s:s + b]


def spikeforge_runner(snn: ir.Network, counters: bool) -> Callable:
    def run(x: torch.Tensor, b: int) -> np.ndarray:
        return simulate(snn, x, timesteps=T, batch_size=b, counters=counters).outputs[T]
    return run


def _sequential(snn: ir.Network, make_if: Callable[[ir.IF, float], tuple],
                make_layer: Callable[[ir.Node], nn.Module]) -> tuple[nn.Sequential, list[tuple]]:
    """The chain of ``snn`` as an eval-mode ``nn.Sequential``, and one entry per IF node.

    ``make_if(node, theta)`` returns ``(module, *state)`` for an IF node of threshold ``theta``
    (the entry kept in the list); ``make_layer(node)`` builds every other node.
    """
    mods, neurons = [], []
    for node in _chain(snn):
        if isinstance(node, ir.IF):
            entry = make_if(node, float(node.threshold))
            neurons.append(entry)
            mods.append(entry[0])
        else:
            mods.append(make_layer(node))
    return nn.Sequential(*mods).eval(), neurons


def spikingjelly_runner(snn: ir.Network) -> tuple[Callable, list[nn.Module]]:
    from spikingjelly.activation_based import functional, layer, neuron

    def make_if(node: ir.IF, theta: float) -> tuple:
        return neuron.IFNode(v_threshold=theta, v_reset=None, step_mode="m"), node.v_init * theta

    net, neurons = _sequential(snn, make_if, lambda node: _torch_layer(
        node, layer.Conv2d, layer.Linear, layer.AvgPool2d, layer.Flatten, step_mode="m"))

    def run(x: torch.Tensor, b: int) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for xb in _batches(x, b):
                functional.reset_net(net)
                for m, v0 in neurons:  # spikeforge's initial membrane potential v_init·θ
                    m.v = v0
                outs.append(net(xb.unsqueeze(0).expand(T, *xb.shape)).mean(0))  # (T, B, C, H, W) in
        return torch.cat(outs).numpy()

    return run, [m for m, _ in neurons]


def sinabs_runner(snn: ir.Network) -> tuple[Callable, list[nn.Module]]:
    from sinabs.activation import MembraneSubtract, SingleSpike
    from sinabs.layers import IAFSqueeze

    def make_if(node: ir.IF, theta: float) -> tuple:
        m = IAFSqueeze(num_timesteps=T, spike_threshold=torch.tensor(theta), spike_fn=SingleSpike,
                       reset_fn=MembraneSubtract(), min_v_mem=None)
        return m, snn.shape(node.name), node.v_init * theta

    net, neurons = _sequential(snn, make_if, lambda node: _torch_layer(
        node, nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.Flatten))

    def run(x: torch.Tensor, b: int) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for xb in _batches(x, b):
                n = xb.shape[0]
                for m, shape, v0 in neurons:  # reset, with spikeforge's initial potential v_init·θ
                    m.init_state_with_shape((n, *shape))
                    m.v_mem.fill_(v0)
                xs = xb.unsqueeze(1).expand(n, T, *xb.shape[1:]).reshape(n * T, *xb.shape[1:])  # (B·T, ...)
                outs.append(net(xs).reshape(n, T, -1).mean(1))
        return torch.cat(outs).numpy()

    return run, [m for m, _, _ in neurons]


# ---------------------------------------------------------------------------------------------
# Equivalence and timing
# ---------------------------------------------------------------------------------------------
def _count_spikes(modules: list[nn.Module]) -> tuple[list[float], Callable[[], None]]:
    totals = [0.0] * len(modules)
    handles = []
    for i, m in enumerate(modules):
        def hook(_m, _inp, out, i=i):
            totals[i] += float(out.sum())
        handles.append(m.register_forward_hook(hook))
    return totals, lambda: [h.remove() for h in handles]


def equivalence(snn: ir.Network, x: torch.Tensor, labels: np.ndarray | None, b: int,
                peers: dict[str, tuple[Callable, list[nn.Module]]]) -> dict:
    ref = simulate(snn, x, timesteps=T, batch_size=b, counters=True)
    out_sf = ref.outputs[T]
    neurons = [n.name for n in snn.nodes if n.is_neuron]
    spikes = {"spikeforge": [ref.profile.layer(n).spikes for n in neurons]}
    outputs = {"spikeforge": out_sf}
    for name, (run, mods) in peers.items():
        totals, remove = _count_spikes(mods)
        outputs[name] = run(x, b)
        remove()
        spikes[name] = totals
    result = {"samples": int(x.shape[0]), "batch_size": b, "neuron_layers": neurons,
              "spikes_per_layer": spikes, "spikes_total": {k: float(sum(v)) for k, v in spikes.items()}}
    for name in peers:
        result[f"argmax_agreement_{name}"] = float((outputs[name].argmax(1) == out_sf.argmax(1)).mean())
        result[f"max_abs_output_diff_{name}"] = float(np.abs(outputs[name] - out_sf).max())
        result[f"spike_count_rel_diff_{name}"] = float(abs(sum(spikes[name]) - sum(spikes["spikeforge"]))
                                                       / max(1.0, sum(spikes["spikeforge"])))
    if labels is not None:
        result["accuracy"] = {k: float((v.argmax(1) == labels).mean()) for k, v in outputs.items()}
    result["spikes_per_sample_per_step"] = float(sum(spikes["spikeforge"])) / (x.shape[0] * T)
    result["neurons"] = int(sum(np.prod(snn.shape(n)) for n in neurons))
    return result


def time_tools(tools: dict[str, Callable], x: torch.Tensor, b: int, repeat: int) -> dict[str, dict]:
    for run in tools.values():  # warm-up (allocator, oneDNN primitives, lazy imports)
        run(x, b)
    times: dict[str, list[float]] = {k: [] for k in tools}
    for _ in range(repeat):  # interleaved, so drift hits every tool alike
        for name, run in tools.items():
            t0 = time.perf_counter()
            run(x, b)
            times[name].append(time.perf_counter() - t0)
    n = x.shape[0]
    return {k: {"seconds": v, "images_per_s_median": n / statistics.median(v), "images_per_s_best": n / min(v)}
            for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats (VGG)")
    parser.add_argument("--repeat-digits", type=int, default=15,
                        help="timed repeats for the digits CNN (runs take milliseconds: more repeats)")
    parser.add_argument("--vgg-samples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of the digits CNN")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--networks", nargs="+", default=["digits-cnn", "vgg"], choices=["digits-cnn", "vgg"])
    parser.add_argument("--name", default="sim_speed", help="results file bench/results/NAME.json")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    console = Console()
    cases, equiv = [], {}
    for net_name in args.networks:
        snn, x, labels = digits_case(args.epochs) if net_name == "digits-cnn" else vgg_case(args.vgg_samples)
        sj_run, sj_mods = spikingjelly_runner(snn)
        sn_run, sn_mods = sinabs_runner(snn)
        equiv[net_name] = equivalence(snn, x, labels, max(args.batch_sizes),
                                      {"spikingjelly": (sj_run, sj_mods), "sinabs": (sn_run, sn_mods)})
        e = equiv[net_name]
        console.print(f"[bold]{net_name}[/]: argmax agreement spikingjelly {e['argmax_agreement_spikingjelly']:.4f}, "
                      f"sinabs {e['argmax_agreement_sinabs']:.4f}; spikes total {e['spikes_total']}")
        tools = {"spikeforge": spikeforge_runner(snn, counters=True),
                 "spikeforge (no counters)": spikeforge_runner(snn, counters=False),
                 "spikingjelly": sj_run, "sinabs": sn_run}
        for b in args.batch_sizes:
            repeat = args.repeat_digits if net_name == "digits-cnn" else args.repeat
            timing = time_tools(tools, x, b, repeat)
            peer = max(timing["spikingjelly"]["images_per_s_median"], timing["sinabs"]["images_per_s_median"])
            ratio = timing["spikeforge"]["images_per_s_median"] / peer
            ratio_nc = timing["spikeforge (no counters)"]["images_per_s_median"] / peer
            cases.append({"network": net_name, "samples": int(x.shape[0]), "batch_size": b, "timesteps": T,
                          "repeat": repeat,
                          "tools": timing, "ratio_vs_faster_peer": ratio,
                          "ratio_vs_faster_peer_no_counters": ratio_nc, "target_met": ratio >= TARGET})
            console.print(f"  B={b}: " + ", ".join(f"{k} {v['images_per_s_median']:.0f}/s" for k, v in timing.items()))

    table = Table(title=f"Simulation speed, T = {T}, CPU, {args.threads} torch threads (images/s, median)")
    for col in ("network", "B", "spikeforge", "sf no counters", "SpikingJelly", "sinabs", "sf / faster peer",
                f"≥ {TARGET:g}×"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for c in cases:
        t = c["tools"]
        table.add_row(c["network"], str(c["batch_size"]),
                      *(f"{t[k]['images_per_s_median']:,.0f}" for k in
                        ("spikeforge", "spikeforge (no counters)", "spikingjelly", "sinabs")),
                      f"{c['ratio_vs_faster_peer']:.2f}× ({c['ratio_vs_faster_peer_no_counters']:.2f}×)",
                      "yes" if c["target_met"] else "no")
    console.print(table)

    path = write_results(args.name, {
        "spikeforge_module": simulate.__module__,
        "load_average_at_end": list(os.getloadavg()),
        "timesteps": T, "threads": args.threads, "target_ratio": TARGET,
        "target_met": all(c["target_met"] for c in cases),
        "notes": {
            "timing": "warm-up run, then repeats interleaved across tools; images/s from the median "
                      "(best also given); each run covers the whole input set in batches of B",
            "spikeforge": "simulate(snn, x, timesteps=8, batch_size=B, counters=True|False); the ratio uses "
                          "counters=True (the default)",
            "spikingjelly": "spikingjelly.activation_based layer.Conv2d/Linear/AvgPool2d/Flatten and "
                            "neuron.IFNode(v_threshold=θ, v_reset=None) with step_mode='m'; input expanded to "
                            "(T, B, C, H, W); functional.reset_net per batch, then v = v_init·θ; "
                            "read-out = mean over T of the last Linear",
            "sinabs": "torch layers + sinabs.layers.IAFSqueeze(num_timesteps=T, spike_threshold=θ, "
                      "spike_fn=SingleSpike (at most one spike per neuron per step, as spikeforge; sinabs' "
                      "default MultiSpike can emit several), reset_fn=MembraneSubtract(), min_v_mem=None); "
                      "input (B·T, C, H, W); state re-initialised per batch to v_init·θ",
            "weights": "all tools run the SNN converted by spikeforge.convert.normalise.convert (balance="
                       "'weights', thresholds 1, v_init 0.5) with calibration on the benchmark inputs",
            "networks": {"digits-cnn": "trained on digits train split, run on the digits test split",
                         "vgg": "vgg config='small', width=0.5, batch_norm=False, random weights (seed 0), "
                                "random [0, 1) inputs 3×32×32"},
        },
        "equivalence": equiv, "cases": cases,
    })
    write_table(args.name, cases, os.getloadavg())
    console.print(f"wrote {path}")


def write_table(name: str, cases: list[dict], load: tuple[float, float, float]) -> None:
    """The README table of this benchmark, from the figures just written."""
    lines = ["# Simulation speed (issue 2): images/s at T = 8, CPU, one process", "",
             f"spikeforge vs SpikingJelly 2.0 (multi-step) and sinabs 3.1.3 (single-spike IAF) on the same "
             f"converted SNN and data; outputs and spike counts agree across the three (see the JSON). "
             f"Median of repeats; load average at the end {load[0]:.2f}. Target: spikeforge ≥ 2× the faster peer.",
             "", "| network | batch | spikeforge | spikeforge, no counters | SpikingJelly | sinabs | ratio | met |",
             "|---|---:|---:|---:|---:|---:|---:|:---:|"]
    for c in cases:
        t = c["tools"]
        speeds = [f"{t[k]['images_per_s_median']:,.0f}"
                  for k in ("spikeforge", "spikeforge (no counters)", "spikingjelly", "sinabs")]
        lines.append(f"| {c['network']} | {c['batch_size']} | {' | '.join(speeds)} | "
                     f"{c['ratio_vs_faster_peer']:.2f}× | {'yes' if c['target_met'] else 'no'} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
