"""Reference CIFAR-10 models for the precision benchmark: VGG-11 and ResNet-18 (width multiplier).

Three stages per architecture, each cached as a model file in ``bench/checkpoints``:

1. ``pretrain``: QCFS (L = ``LEVELS``) training from scratch with random crop + flip
   augmentation (AdamW, one-cycle schedule) → ``cifar10_<arch>_w<width>_fp.pt``, the
   full-precision ANN.
2. ``qat``: :func:`spikeforge.quantize.qat` from the full-precision model, at ``bits`` = 8 (the
   reference checkpoint ``cifar10_<arch>_w<width>.pt``) and 4 (``..._b4.pt``): fake-quantised
   per-channel weights with a straight-through estimator, then a short spike-domain
   fine-tuning at T = ``LEVELS`` (binary spikes, surrogate gradients). The QAT learning rate is
   small on purpose: 1e-3 for 0.15 epoch of spike-domain tuning cost a VGG 5 points.
3. ``refine`` (run after ``qat``, or alone): the recipe's further spike-domain stages of the
   8-bit checkpoint, ``(epochs, T of its batches[, learning rate[, distillation weight]])`` each
   (a positive weight distils the full-precision ANN's logits into the stage, ``qat(teacher=...)``);
   the model's JSON records the stages applied, so a rerun applies only the new ones.

Training seconds, epochs and accuracies go to ``cifar10_<arch>_w<width>.json`` beside them.
Other benchmarks load the reference checkpoint through :func:`reference_checkpoint`::

    from bench.train_cifar import WIDTHS, reference_checkpoint
    model, shape = load_model(reference_checkpoint("vgg11"))

Run (1 torch thread: the machine is shared)::

    python bench/train_cifar.py --arch vgg11 --stage pretrain
    python bench/train_cifar.py --arch vgg11 --stage qat
    python bench/train_cifar.py --arch vgg11 --stage refine --bits 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, DATA, ROOT  # noqa: E402
from bench.conversion_quality import crop_flip  # noqa: E402
from spikeforge.datasets import Dataset, cifar10  # noqa: E402
from spikeforge.frontends.model_file import load_model, save_model  # noqa: E402
from spikeforge.models import build_model  # noqa: E402
from spikeforge.quantize import qat  # noqa: E402
from spikeforge.train import accuracy, fit  # noqa: E402

#: Width multiplier per architecture. Measured on the shared 2-core machine (1 thread, unloaded):
#: VGG-11 w0.25 ≈ 120 s/epoch, ResNet-18 w0.25 ≈ 370 s/epoch, w0.125 ≈ 180 s/epoch; under the
#: load of other jobs epochs took 2-6x longer, hence few epochs (see RECIPES).
WIDTHS = {"vgg11": 0.25, "resnet18": 0.125}
#: QCFS quantisation levels L of the activations (the SNN is judged at T = 4 and 8).
LEVELS = 4
#: Softmax temperature of the refine stages that distil the full-precision ANN.
DISTILL_TEMPERATURE = 2.0
CHECKPOINTS = ROOT / "bench" / "checkpoints"

# Per architecture: model-file architecture name and options, pretraining and QAT recipe.
RECIPES: dict[str, dict[str, Any]] = {
    # refine: further spike-domain stages of the 8-bit QAT checkpoint, (epochs, T of its batches[, lr[, distill]])
    # each (lr defaults to qat_lr, distill to 0: no teacher)
    "vgg11": dict(arch="vgg", options={"config": "vgg11", "width": WIDTHS["vgg11"]}, epochs=6, lr=3e-3,
                  batch_size=128, qat_epochs=0.2, spike_epochs=0.25, qat_lr=1e-4,
                  refine=((0.5, (LEVELS, 2 * LEVELS)), (1.0, (LEVELS,)), (1.0, (LEVELS,)), (1.0, (LEVELS,), 3e-4),
                          (1.0, (LEVELS,), 3e-4))),
    "resnet18": dict(arch="resnet18", options={"width": WIDTHS["resnet18"]}, epochs=12, lr=3e-3,
                     batch_size=128, qat_epochs=0.2, spike_epochs=0.25, qat_lr=1e-4,
                     refine=((0.5, (LEVELS, 2 * LEVELS)), (1.0, (LEVELS,)), (1.0, (LEVELS,)),
                             (1.0, (LEVELS, 2 * LEVELS), 3e-4), (1.0, (LEVELS,), 3e-4), (1.0, (2 * LEVELS,), 3e-4),
                             (1.0, (LEVELS,), 1e-3), (1.0, (LEVELS,), 1e-3, 0.5),
                             # one long cosine schedule does what one-epoch stages did not (T = 4 float SNN
                             # 70.51% → 71.45% → 71.96%)
                             (6.0, (LEVELS, LEVELS, 2 * LEVELS), 1e-3), (4.0, (LEVELS, LEVELS, 2 * LEVELS), 1e-3))),
}


def reference_checkpoint(arch: str, bits: int | None = 8) -> Path:
    """Model file of a reference model: ``arch`` is 'vgg11' or 'resnet18'; ``bits`` 8 (the
    reference, QAT at 8 bits), 4 (QAT at 4 bits) or None (the full-precision QCFS ANN)."""
    if arch not in WIDTHS:
        raise KeyError(f"arch {arch!r}: use one of {', '.join(WIDTHS)}")
    suffix = {8: "", 4: "_b4", None: "_fp"}[bits]
    return CHECKPOINTS / f"cifar10_{arch}_w{WIDTHS[arch]}{suffix}.pt"


def _meta_path(arch: str) -> Path:
    return reference_checkpoint(arch).with_suffix(".json")


def _update_meta(name: str, **entries: Any) -> None:
    path = _meta_path(name)
    meta = json.loads(path.read_text()) if path.is_file() else {}
    meta.update(entries)
    path.write_text(json.dumps(meta, indent=1))


def load_cifar() -> tuple[Dataset, Dataset]:
    folder = DATA / "cifar10"
    return cifar10(folder, "train", cache=CACHE), cifar10(folder, "test", cache=CACHE)


def pretrain(arch: str, train: Dataset, test: Dataset, console: Console) -> None:
    """QCFS training from scratch; saves the full-precision checkpoint."""
    recipe = RECIPES[arch]
    options = {**recipe["options"], "qcfs_levels": LEVELS}
    model, _ = build_model(recipe["arch"], **options)
    started = time.perf_counter()

    def log(epoch: int, loss: float) -> None:
        console.print(f"{arch} pretrain: epoch {epoch}/{recipe['epochs']} loss {loss:.4f} "
                      f"({time.perf_counter() - started:.0f} s)")

    fit(model, train, epochs=recipe["epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
        augment=crop_flip, on_epoch=log)
    seconds = time.perf_counter() - started
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    save_model(reference_checkpoint(arch, None), model, recipe["arch"], options)
    acc = accuracy(model, test)
    console.print(f"{arch} pretrain: test accuracy {100 * acc:.2f}% after {seconds:.0f} s")
    _update_meta(arch, arch=recipe["arch"], options=options, width=WIDTHS[arch], levels=LEVELS,
                 pretrain_epochs=recipe["epochs"], pretrain_seconds=seconds, fp_accuracy=acc,
                 threads=torch.get_num_threads())


def finetune(arch: str, bits: int, train: Dataset, test: Dataset, console: Console) -> None:
    """QAT (+ spike-domain fine-tuning at T = 4) from the full-precision checkpoint at ``bits``."""
    recipe = RECIPES[arch]
    model, _ = load_model(reference_checkpoint(arch, None))
    started = time.perf_counter()
    tuned = qat(model, train, bits=bits, timesteps=LEVELS, epochs=recipe["qat_epochs"], lr=recipe["qat_lr"],
                batch_size=recipe["batch_size"], augment=crop_flip, spike_epochs=recipe["spike_epochs"])
    seconds = time.perf_counter() - started
    options = {**recipe["options"], "qcfs_levels": LEVELS}
    save_model(reference_checkpoint(arch, bits), tuned, recipe["arch"], options)
    acc = accuracy(tuned, test)
    console.print(f"{arch} QAT {bits}-bit: test accuracy {100 * acc:.2f}% after {seconds:.0f} s")
    _update_meta(arch, **{f"qat{bits}_epochs": recipe["qat_epochs"], f"qat{bits}_spike_epochs": recipe["spike_epochs"],
                          f"qat{bits}_lr": recipe["qat_lr"], f"qat{bits}_seconds": seconds, f"qat{bits}_accuracy": acc,
                          f"qat{bits}_refine_stages": []})  # a fresh QAT model has had none
    if recipe.get("refine") and bits == 8:
        refine(arch, bits, train, test, console)


def refine_stage(entry: Sequence[Any], default_lr: float) -> tuple[float, tuple[int, ...], float, float]:
    """A refine stage ``(epochs, T of its batches[, lr[, distill]])`` (from a recipe or a JSON record) in one form."""
    epochs, schedule, *rest = entry
    lr = rest[0] if rest else default_lr
    distill = rest[1] if len(rest) > 1 else 0.0
    return float(epochs), tuple(schedule), float(lr), float(distill)


def refine(arch: str, bits: int, train: Dataset, test: Dataset, console: Console) -> None:
    """The recipe's further spike-domain stages of the QAT checkpoint that it has not had yet (the
    model's JSON records the stages done); stage i uses seed i + 1 and its own cosine schedule."""
    recipe = RECIPES[arch]
    stages = [refine_stage(s, recipe["qat_lr"]) for s in recipe.get("refine", ())]
    meta = json.loads(_meta_path(arch).read_text())
    done = [refine_stage(s, recipe["qat_lr"]) for s in meta.get(f"qat{bits}_refine_stages", [])]
    if done != stages[:len(done)]:
        raise SystemExit(f"{arch} {bits}-bit: refine stages done {done} are not a prefix of the recipe's {stages}; "
                         "rerun --stage qat")
    for i in range(len(done), len(stages)):
        epochs, schedule, lr, distill = stages[i]
        model, _ = load_model(reference_checkpoint(arch, bits))
        teacher = load_model(reference_checkpoint(arch, None))[0] if distill > 0 else None
        started = time.perf_counter()
        tuned = qat(model, train, bits=bits, timesteps=LEVELS, epochs=0, lr=lr,
                    batch_size=recipe["batch_size"], augment=crop_flip, spike_epochs=epochs,
                    spike_timesteps=schedule, seed=i + 1, teacher=teacher, distill=distill,
                    temperature=DISTILL_TEMPERATURE)
        seconds = time.perf_counter() - started
        save_model(reference_checkpoint(arch, bits), tuned, recipe["arch"], {**recipe["options"], "qcfs_levels": LEVELS})
        acc = accuracy(tuned, test)
        console.print(f"{arch} QAT {bits}-bit refine stage {i + 1} ({epochs} epoch, T={schedule}, lr {lr:g}, "
                      f"distill {distill:g}): "
                      f"test accuracy {100 * acc:.2f}% after {seconds:.0f} s")
        meta = json.loads(_meta_path(arch).read_text())
        _update_meta(arch, **{f"qat{bits}_spike_epochs": meta[f"qat{bits}_spike_epochs"] + epochs,
                              f"qat{bits}_refine_stages": stages[:i + 1],
                              f"qat{bits}_seconds": meta[f"qat{bits}_seconds"] + seconds, f"qat{bits}_accuracy": acc})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=list(RECIPES), required=True)
    parser.add_argument("--stage", choices=("pretrain", "qat", "refine", "all"), default="all",
                        help="refine: only the recipe's further spike-domain stages of a QAT checkpoint")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4], help="QAT bit-widths (stage qat)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    console = Console()
    train, test = load_cifar()
    if args.stage in ("pretrain", "all"):
        pretrain(args.arch, train, test, console)
    if args.stage in ("qat", "all"):
        for bits in args.bits:
            finetune(args.arch, bits, train, test, console)
    if args.stage == "refine":
        for bits in args.bits:
            refine(args.arch, bits, train, test, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
