"""Issue 5: accuracy of reduced-precision SNNs (8- and 4-bit weights) at T = 2, 4, 6, 8.

Per model: the full-precision QCFS ANN (L = 4), then for each weight bit-width the QAT model
(:func:`spikeforge.quantize.qat`: fake-quantised per-channel weights + spike-domain
fine-tuning at T = 4) converted (:func:`~spikeforge.convert.normalise.convert`, thresholds =
trained clips), quantised (:func:`~spikeforge.quantize.quantize`, per-channel weights, 8-bit
input, 24-bit thresholds) and run in integer arithmetic with binary spikes. For comparison,
post-training quantisation (PTQ) of the full-precision ANN without QAT.

Accuracies at T = 2, 4, 6, 8 come from one integer run with read-outs at those timesteps
(``simulate(..., integer=True, checkpoints=...)``, bit-exact); the T = 8 prediction of every
configuration is cross-checked against :func:`~spikeforge.quantize.simulate_integer` on the
first ``--check`` test images, which also gives the membrane width needed.

Models: CIFAR-10 VGG-11 and ResNet-18 (width multipliers and checkpoints from
``bench/train_cifar.py``), MNIST LeNet-5 and digits CNN (QCFS checkpoints of
``bench/conversion_quality.py``, QAT here).

Target: 8-bit SNN within 0.5 point of the full-precision ANN at T = 8 and 1.0 point at T = 4.

    python bench/precision.py                            # the published run: everything on the full test sets
    python bench/precision.py --limit 5000 --check 250   # quicker: CIFAR-10 on 5,000 random test images
    python bench/precision.py --models digits            # one model

Rows are cached in ``CACHE/precision_rows`` (keyed by the model's weights), so models can be
evaluated by separate runs; ``--reeval`` ignores the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, RESULTS, write_results  # noqa: E402
from bench.conversion_quality import SPECS, load, trained  # noqa: E402
from bench.train_cifar import (  # noqa: E402
    DISTILL_TEMPERATURE, LEVELS, RECIPES, WIDTHS, load_cifar, reference_checkpoint, refine_stage)
from spikeforge.convert.normalise import convert  # noqa: E402
from spikeforge.datasets import Dataset  # noqa: E402
from spikeforge.frontends.model_file import load_model, save_model  # noqa: E402
from spikeforge.frontends.torch_fx import import_torch  # noqa: E402
from spikeforge.quantize import qat, quantize, simulate_integer  # noqa: E402
from spikeforge.sim.simulator import run_ann, simulate  # noqa: E402

TIMESTEPS = (2, 4, 6, 8)
BITS = (8, 4)
TOL = {4: 1.0, 8: 0.5}  # allowed loss in points against the full-precision ANN (8-bit rows)
THRESHOLD_BITS = 24  # 16 would coarsen the first layer's step (its threshold in 1/255 input units)
CALIB = 256  # training images for the input range
CHECK_IMAGES = 1000  # test images (per set) whose T = 8 predictions are cross-checked with simulate_integer
# QAT recipe of the small models (the CIFAR ones are trained by bench/train_cifar.py).
SMALL_QAT = {"digits": dict(epochs=3, spike_epochs=2, lr=1e-3, batch_size=64),
             "mnist": dict(epochs=1, spike_epochs=0.5, lr=3e-4, batch_size=64)}
MODELS = ("vgg11", "resnet18", "mnist", "digits")
ROW_CACHE = CACHE / "precision_rows"
# PTQ comparison rows run by default (one per model family; VGG-11 stands for CIFAR-10).
PTQ_ROWS = ("vgg11:8", "mnist:8", "mnist:4", "digits:8", "digits:4")


def _accuracy(out: np.ndarray, labels: np.ndarray) -> float:
    return float((out.argmax(1) == labels).mean())


def cifar_models(name: str) -> tuple[dict[str, torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    """Full-precision and QAT models of a CIFAR reference architecture, and their training record."""
    models = {}
    shape: tuple[int, ...] = ()
    for bits in (None, *BITS):  # a QAT checkpoint not trained (yet) is reported as missing
        if bits is None or reference_checkpoint(name, bits).is_file():
            models["fp" if bits is None else f"qat{bits}"], shape = load_model(reference_checkpoint(name, bits))
    meta = json.loads(reference_checkpoint(name).with_suffix(".json").read_text())
    return models, shape, meta


def small_models(name: str, train: Dataset, console: Console, seed: int = 0
                 ) -> tuple[dict[str, torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    """The QCFS model of conversion_quality for training seed ``seed`` (trained if absent) and its
    QAT copies (cached)."""
    spec = SPECS[name]
    model, shape, seconds = trained(name, spec, train, spec["levels"], spec["epochs"], False, console, seed)
    recipe = SMALL_QAT[name]
    models = {"fp": model}
    meta: dict[str, Any] = {"arch": spec["arch"], "options": spec["options"], "levels": spec["levels"],
                            "pretrain_epochs": spec["epochs"], "pretrain_seconds": seconds}
    for bits in BITS:
        path = CACHE / "checkpoints" / f"precision_{name}_qat{bits}{f'_s{seed}' if seed else ''}.pt"
        record = path.with_suffix(".json")
        if path.is_file() and record.is_file():
            models[f"qat{bits}"], _ = load_model(path)
            meta[f"qat{bits}_seconds"] = json.loads(record.read_text())["seconds"]
        else:
            started = time.perf_counter()
            tuned = qat(model, train, bits=bits, timesteps=LEVELS, seed=seed, **recipe)
            meta[f"qat{bits}_seconds"] = time.perf_counter() - started
            save_model(path, tuned, spec["arch"], {**spec["options"], "qcfs_levels": spec["levels"]})
            record.write_text(json.dumps({"seconds": meta[f"qat{bits}_seconds"]}))
            models[f"qat{bits}"] = tuned
        meta[f"qat{bits}_epochs"] = recipe["epochs"]
        meta[f"qat{bits}_spike_epochs"] = recipe["spike_epochs"]
    return models, shape, meta


def snn_accuracy(model: torch.nn.Module, shape: tuple[int, ...], bits: int, calib: np.ndarray, test: Dataset,
                 check: int, batch: int) -> dict[str, Any]:
    """Convert, quantise and run one model in integer arithmetic; accuracies per T and the check."""
    started = time.perf_counter()
    qnet = quantize(convert(import_torch(model, shape)), weight_bits=bits, threshold_bits=THRESHOLD_BITS,
                    per_channel=True, input_bits=8, calib=calib)
    sim = simulate(qnet.network, qnet.quantize_input(test.x), timesteps=max(TIMESTEPS), checkpoints=TIMESTEPS,
                   labels=test.y, batch_size=batch, counters=False, integer=True)
    ref = simulate_integer(qnet, test.x[:check], max(TIMESTEPS), batch_size=batch)
    same = bool(np.array_equal(ref.predictions(), sim.outputs[max(TIMESTEPS)][:check].argmax(1)))
    return {"snn_accuracy": {str(t): a for t, a in sim.accuracy.items()},
            "simulate_integer_agrees": same, "checked_images": check,
            "membrane_bits_needed": ref.membrane_bits_needed, "eval_seconds": time.perf_counter() - started}


def float_snn_accuracy(model: torch.nn.Module, shape: tuple[int, ...], test: Dataset, batch: int) -> dict[str, Any]:
    """The converted SNN in float arithmetic (QAT weights are still on their grid; thresholds,
    biases and residual gains unquantised): isolates what ``quantize`` adds."""
    started = time.perf_counter()
    sim = simulate(convert(import_torch(model, shape)), test.x, timesteps=max(TIMESTEPS), checkpoints=TIMESTEPS,
                   labels=test.y, batch_size=batch, counters=False)
    return {"snn_accuracy": {str(t): a for t, a in sim.accuracy.items()}, "eval_seconds": time.perf_counter() - started}


def _fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().numpy().tobytes())
    return digest.hexdigest()


def cached_row(key: str, model: torch.nn.Module, reeval: bool, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One table row, cached in ``CACHE/precision_rows`` under ``key`` and the model's weights, so
    configurations can be evaluated by separate runs (e.g. while another model trains)."""
    path = ROW_CACHE / f"{key}.json"
    fingerprint = _fingerprint(model)
    if path.is_file() and not reeval:
        row = json.loads(path.read_text())
        if row.get("fingerprint") == fingerprint:
            return row
    row = {**compute(), "fingerprint": fingerprint}
    ROW_CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=1))
    return row


def evaluate(name: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """One model's rows; a data set whose conversion spec names several training ``seeds``
    (digits: 450 test images, one image = 0.22 point) is judged on the mean over the seeds."""
    if name in WIDTHS:
        train, test = load_cifar()
        return evaluate_models(name, "cifar10", *cifar_models(name), train, test, args, console)
    loaded = load(name)
    if isinstance(loaded, str):
        console.print(f"[yellow]skipped {name}: {loaded}")
        return {"skipped": loaded}
    train, test = loaded
    per_seed = [evaluate_models(name, name, *small_models(name, train, console, seed), train, test, args, console,
                                suffix=f"_s{seed}" if seed else "")
                for seed in range(SPECS[name].get("seeds", 1))]
    return per_seed[0] if len(per_seed) == 1 else mean_over_seeds(per_seed)


def mean_over_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows averaged over training seeds (accuracies and deltas; seconds summed); the target is
    judged on the mean delta, and every seed's deltas are kept."""
    first = per_seed[0]
    rows = {}
    for label, row in first["rows"].items():
        runs = [r["rows"][label] for r in per_seed]
        quantized = [r["ann_accuracy_quantized"] for r in runs]
        mean = {**row, "snn_accuracy": {t: float(np.mean([r["snn_accuracy"][t] for r in runs])) for t in row["snn_accuracy"]},
                "delta_points": {t: float(np.mean([r["delta_points"][t] for r in runs])) for t in row["delta_points"]},
                "delta_points_per_seed": [r["delta_points"] for r in runs],
                "ann_accuracy_quantized": None if quantized[0] is None else float(np.mean(quantized)),
                "simulate_integer_agrees": all(r.get("simulate_integer_agrees", True) for r in runs),
                "membrane_bits_needed": max(r.get("membrane_bits_needed", 0) for r in runs),
                "eval_seconds": float(sum(r["eval_seconds"] for r in runs))}
        if "target_met" in row:
            mean["target_met"] = {t: bool(mean["delta_points"][t] >= -TOL[int(t[1:])]) for t in row["target_met"]}
        rows[label] = mean
    return {**first, "seeds": len(per_seed), "rows": rows,
            "ann_accuracy": float(np.mean([r["ann_accuracy"] for r in per_seed])),
            "ann_accuracy_qat": {b: float(np.mean([r["ann_accuracy_qat"][b] for r in per_seed])) for b in first["ann_accuracy_qat"]},
            "train_seconds": float(sum(r["train_seconds"] for r in per_seed)),
            "target_met": rows.get("QAT 8-bit", {}).get("target_met")}


def evaluate_models(name: str, data: str, models: dict[str, torch.nn.Module], shape: tuple[int, ...],
                    meta: dict[str, Any], train: Dataset, test: Dataset, args: argparse.Namespace,
                    console: Console, suffix: str = "") -> dict[str, Any]:
    if args.limit and name in WIDTHS:  # a seeded random subset: the file's first half is harder
        pick = np.sort(np.random.default_rng(0).permutation(len(test))[:args.limit])
        test = Dataset(test.x[pick], test.y[pick], f"{test.name}-{args.limit}")
    calib = train.x[np.random.default_rng(0).permutation(len(train))[:CALIB]]
    batch = 250
    ann = {kind: _accuracy(run_ann(import_torch(m, shape), test.x, batch_size=batch), test.y)
           for kind, m in models.items()}
    console.print(f"[bold]{name}{suffix}[/] ({data}, {len(test)} test images): ANN "
                  + ", ".join(f"{k} {100 * v:.2f}%" for k, v in ann.items()))
    rows: dict[str, Any] = {}
    for bits in BITS:
        for method, model in (("QAT", models.get(f"qat{bits}")), ("PTQ", models["fp"])):
            if model is None or (method == "PTQ" and f"{name}:{bits}" not in args.ptq):
                continue
            r = cached_row(f"{name}{suffix}_{method}{bits}_{test.name}", model, args.reeval,
                           partial(snn_accuracy, model, shape, bits, calib, test, min(args.check, len(test)), batch))
            deltas = {f"T{t}": 100 * (r["snn_accuracy"][str(t)] - ann["fp"]) for t in TIMESTEPS}
            r |= {"bits": bits, "method": method, "delta_points": deltas,
                  "ann_accuracy_quantized": ann[f"qat{bits}"] if method == "QAT" else None}
            if bits == 8 and method == "QAT":
                r["target_met"] = {f"T{t}": bool(deltas[f"T{t}"] >= -tol) for t, tol in TOL.items()}
            rows[f"{method} {bits}-bit"] = r
            if method == "QAT" and name in args.float_snn:
                f = cached_row(f"{name}{suffix}_{method}{bits}_float_{test.name}", model, args.reeval,
                               partial(float_snn_accuracy, model, shape, test, batch))
                f |= {"bits": bits, "method": method, "float_snn": True, "ann_accuracy_quantized": r["ann_accuracy_quantized"],
                      "delta_points": {f"T{t}": 100 * (f["snn_accuracy"][str(t)] - ann["fp"]) for t in TIMESTEPS}}
                rows[f"{method} {bits}-bit, float SNN"] = f
            console.print(f"  {method} {bits}-bit SNN: " + ", ".join(
                f"T={t} {100 * a:.2f}%" for t, a in r["snn_accuracy"].items())
                + f" (simulate_integer agrees on {r['checked_images']}: {r['simulate_integer_agrees']}; "
                  f"{r['eval_seconds']:.0f} s)")
    train_seconds = meta.get("pretrain_seconds", 0.0) + sum(meta.get(f"qat{b}_seconds", 0.0) for b in BITS)
    return {"data": data, "model": meta["arch"], "options": meta["options"], "width": meta.get("width"),
            "qcfs_levels": meta["levels"], "pretrain_epochs": meta["pretrain_epochs"],
            "qat_epochs": {f"{b}-bit": meta.get(f"qat{b}_epochs") for b in BITS},
            "qat_spike_epochs": {f"{b}-bit": meta.get(f"qat{b}_spike_epochs") for b in BITS},
            "train_seconds": train_seconds, "train_record": meta, "test_images": len(test),
            "ann_accuracy": ann["fp"], "ann_accuracy_qat": {f"{b}-bit": ann.get(f"qat{b}") for b in BITS},
            "missing": [f"QAT {b}-bit" for b in BITS if f"qat{b}" not in models],
            "rows": rows, "target_met": rows.get("QAT 8-bit", {}).get("target_met")}


HEADER = ["model", "weights", "ANN fp32", "ANN fake-quant", *[f"T={t}" for t in TIMESTEPS], "Δ T=4", "Δ T=8",
          "target"]


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for name, r in results.items():
        if "rows" not in r:
            continue
        for label, row in r["rows"].items():
            quantized = row["ann_accuracy_quantized"]
            met = row.get("target_met")
            out.append([f"{name} ({r['data']})", label, f"{100 * r['ann_accuracy']:.2f}",
                        "–" if quantized is None else f"{100 * quantized:.2f}",
                        *[f"{100 * row['snn_accuracy'][str(t)]:.2f}" for t in TIMESTEPS],
                        f"{row['delta_points']['T4']:+.2f}", f"{row['delta_points']['T8']:+.2f}",
                        "–" if met is None else " ".join(f"{k[1:]}:{'yes' if v else 'no'}" for k, v in met.items())])
    return out


def rounding_cost(results: dict[str, Any]) -> str:
    """Largest |float SNN − integer SNN| over T per model with float-SNN rows, as text."""
    parts = []
    for name, r in results.items():
        gaps = [abs(row["snn_accuracy"][t] - r["rows"][label.removesuffix(", float SNN")]["snn_accuracy"][t])
                for label, row in r.get("rows", {}).items() if label.endswith(", float SNN")
                for t in row["snn_accuracy"]]
        if gaps:
            parts.append(f"{name}: integer rows within {100 * max(gaps):.1f} point of the float ones")
    return "; ".join(parts) or "no float-SNN rows in this run"


def command(figures: dict[str, Any]) -> str:
    """The command line of the run that produced ``figures`` (limit and check as given)."""
    options = [f"--limit {figures['limit']}"] if figures["limit"] else []
    if figures.get("check", CHECK_IMAGES) != CHECK_IMAGES:
        options.append(f"--check {figures['check']}")
    return " ".join(["python bench/precision.py", *options])


def markdown(results: dict[str, Any], figures: dict[str, Any]) -> str:
    lines = ["# Precision (issue 5): reduced-precision SNN top-1 accuracy (%), integer simulation, binary spikes", "",
             "Target: the 8-bit QAT SNN within 0.5 point of the full-precision (fp32) ANN at T = 8 and 1.0 point at",
             "T = 4. Δ is SNN − fp32 ANN. QAT = `spikeforge.quantize.qat` (fake-quantised per-channel weights with a",
             "straight-through estimator and QCFS L = 4, then spike-domain fine-tuning at T = 4, and for the CIFAR-10",
             "8-bit models the further spike-domain stages listed below); PTQ = the fp32 ANN",
             "quantised without QAT. SNNs: `convert` (thresholds = QCFS clips), `quantize` (per-channel weights, 8-bit",
             f"input, {THRESHOLD_BITS}-bit thresholds), integer simulation; T = 2…8 read out from one run and the T = 8",
             f"predictions checked against `simulate_integer` on (up to) the first {figures.get('check', CHECK_IMAGES):,} test images. "
             + (f"CIFAR-10 rows use {figures['limit']:,} test images drawn at random (seed 0)." if figures["limit"]
                else "Every row uses the whole test set (CIFAR-10: 10,000 images).")
             + " Rows marked *float SNN* run the converted QAT network in",
             "float arithmetic (weights on their QAT grid; thresholds, biases and residual gains not rounded): they",
             f"bound what integer rounding costs ({rounding_cost(results)}).", ""]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"- {name}: skipped ({r['skipped']})")
            continue
        width = f", width {r['width']}" if r.get("width") is not None else ""
        qat_epochs = ", ".join(f"{b}: {r['qat_epochs'][b]} + {r['qat_spike_epochs'][b]} spiking"
                               for b in r["qat_epochs"])
        stages = r.get("train_record", {}).get("qat8_refine_stages")
        if stages:
            qat_epochs += "; 8-bit spike-domain stages " + ", ".join(
                f"{e} epoch at T={'/'.join(map(str, ts))} lr {lr:g}"
                + (f" distilled from the fp32 ANN (α {distill:g}, τ {DISTILL_TEMPERATURE:g})" if distill else "")
                for e, ts, lr, distill in (refine_stage(s, RECIPES[name]["qat_lr"]) for s in stages))
        checks = all(row.get("simulate_integer_agrees", True) for row in r["rows"].values())
        lines.append(f"- **{name}** ({r['data']}): {r['model']} {r['options']}{width}; QCFS from scratch "
                     f"{r['pretrain_epochs']} epochs, QAT epochs ({qat_epochs}); training {r['train_seconds'] / 60:.1f} "
                     + (f"min over {r['seeds']} training seeds (figures are means; 8-bit QAT Δ per seed: "
                        + ", ".join(f"T=4 {d['T4']:+.2f} / T=8 {d['T8']:+.2f}"
                                    for d in r["rows"]["QAT 8-bit"]["delta_points_per_seed"]) + "); "
                        if r.get("seeds") else "min; ")
                     + f"{r['test_images']} test images; target met: T=4 {'yes' if r['target_met']['T4'] else 'no'}, "
                     f"T=8 {'yes' if r['target_met']['T8'] else 'no'}; simulate_integer agrees: "
                     f"{'yes' if checks else 'NO'}; membrane bits needed (8-bit) "
                     f"{r['rows']['QAT 8-bit']['membrane_bits_needed']}"
                     + (f"; not run for lack of time: {', '.join(r['missing'])}" if r.get("missing") else ""))
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    load = figures["load_average"]
    evaluation = sum(row["eval_seconds"] for r in results.values() for row in r.get("rows", {}).values())
    lines += ["", "*ANN fake-quant* is the QAT model's own ANN accuracy (after spike-domain tuning, which trades ANN "
              "for SNN accuracy).", "",
              f"Evaluation {evaluation / 60:.1f} min (sum over rows; this assembly run "
              f"{figures['total_seconds'] / 60:.1f} min), {figures['torch_threads']} torch thread(s), on a shared "
              f"{os.cpu_count()}-core machine (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end). "
              "Training times are from the checkpoints' records. "
              f"`{command(figures)}`; machine and versions in precision.json.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--limit", type=int, default=0,
                        help="CIFAR-10: N test images drawn at random (seed 0), 0: all")
    parser.add_argument("--check", type=int, default=CHECK_IMAGES, help="images cross-checked with simulate_integer")
    parser.add_argument("--ptq", nargs="*", default=list(PTQ_ROWS),
                        help="PTQ comparison rows as MODEL:BITS (none: skip them)")
    parser.add_argument("--reeval", action="store_true", help="ignore cached rows")
    parser.add_argument("--float-snn", nargs="*", choices=MODELS, default=["resnet18"],
                        help="models that also get float-SNN rows of their QAT models")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console(width=max(Console().width, 160))
    started = time.perf_counter()
    results = {name: evaluate(name, args, console) for name in args.models}
    table = Table(title="precision: top-1 accuracy (%), integer SNN, binary spikes")
    for col in HEADER:
        table.add_column(col, justify="left" if col in ("model", "weights", "target") else "right")
    for row in table_rows(results):
        table.add_row(*row)
    console.print(table)
    figures = {"timesteps": list(TIMESTEPS), "bits": list(BITS), "tolerance_points": {f"T{t}": v for t, v in TOL.items()},
               "threshold_bits": THRESHOLD_BITS, "widths": WIDTHS,
               "cifar_recipes": {k: {**v, "options": dict(v["options"])} for k, v in RECIPES.items()},
               "limit": args.limit, "check": args.check, "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
               "total_seconds": time.perf_counter() - started, "models": results}
    full = set(args.models) == set(MODELS)
    path = write_results("precision" if full else "precision_partial", figures)
    if full:
        (RESULTS / "precision.md").write_text(markdown(results, figures))
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
