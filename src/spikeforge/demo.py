"""The main job end to end on the embedded default: scikit-learn's digits.

Trains the digits CNN twice (ReLU, and QCFS for low latency), imports and converts both to
SNNs, simulates them at T = 1 … 32, prints the accuracy and activity tables and writes the
converted network, the model file and the data it used to ``out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from spikeforge.convert.normalise import convert
from spikeforge.datasets import Dataset, digits, save_data
from spikeforge.frontends.model_file import save_model
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir.serialize import write_network
from spikeforge.outputs import atomic_directory, check_output_folder
from spikeforge.report.console import console as default_console
from spikeforge.models import build_model
from spikeforge.report.tables import accuracy_table, profile_table
from spikeforge.sim.simulator import run_ann, simulate
from spikeforge.train import fit

TIMESTEPS = (1, 2, 4, 8, 16, 32)
QCFS_LEVELS = 4
EPOCHS = 60
MAX_EPOCHS = 1000  # about an hour on two cores; the demo converges in 60


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def run_demo(out: str | Path = "out/demo", *, epochs: int = EPOCHS, console: Console | None = None) -> dict:
    """Run the demo; return its results (also written to ``out/results.json``)."""
    console = console or default_console
    check_output_folder(out)  # before minutes of training
    torch.manual_seed(0)
    train, test = digits("train"), digits("test")
    calib = train.take(512)
    console.print(f"[bold]spikeforge demo[/] — digits: {len(train)} training, {len(test)} test images (8×8)")
    results: dict = {"dataset": "sklearn digits", "timesteps": list(TIMESTEPS), "models": {}}
    networks = {}
    with _progress(console) as progress:
        for label, levels, statistic in (("ReLU, p99.9 normalisation", None, "p99.9"),
                                          (f"QCFS L={QCFS_LEVELS}", QCFS_LEVELS, "max")):
            options = {"qcfs_levels": levels} if levels else {}
            model, shape = build_model("digits-cnn", **options)
            task = progress.add_task(f"train ANN ({label})", total=epochs)
            started = time.perf_counter()
            fit(model, train, epochs=epochs, lr=1e-2, on_epoch=lambda e, _l: progress.update(task, completed=e))
            train_s = time.perf_counter() - started
            ann = import_torch(model, shape, name="digits-cnn")
            ann_acc = float((run_ann(ann, test.x).argmax(1) == test.y).mean())
            snn = convert(ann, calib.x, statistic=statistic)
            task = progress.add_task(f"simulate SNN ({label})", total=len(test))
            sim = simulate(snn, test.x, timesteps=max(TIMESTEPS), checkpoints=TIMESTEPS, labels=test.y,
                           on_batch=lambda done: progress.update(task, completed=done))
            networks[label] = (model, options, snn, sim)
            results["models"][label] = {
                "train_seconds": round(train_s, 2), "ann_accuracy": ann_acc,
                "snn_accuracy": {str(t): a for t, a in sim.accuracy.items()},
                "spikes_per_image_T32": sim.profile.spikes_per_sample,
                "synops_per_image_T32": sim.profile.synops_per_sample}
    columns: dict = {}
    for label, (_, _, _, sim) in networks.items():
        columns[f"ANN ({label})"] = results["models"][label]["ann_accuracy"]
        columns[f"SNN ({label})"] = sim.accuracy
    best_label = f"QCFS L={QCFS_LEVELS}"
    model, options, snn, sim = networks[best_label]
    # Activity per T: simulate once more at each T, since counters cover the whole run.
    spikes, synops = {}, {}
    for t in TIMESTEPS:
        profile = simulate(snn, test.x, timesteps=t).profile
        spikes[t], synops[t] = profile.spikes_per_sample, profile.synops_per_sample
    console.print(accuracy_table("digits test accuracy, binary spikes (ANN vs SNN per T)", TIMESTEPS, columns,
                                 {"spikes/img (QCFS)": spikes, "synops/img (QCFS)": synops}))
    profile_8 = simulate(snn, test.x, timesteps=8).profile
    console.print(profile_table(profile_8))

    def fill(folder: Path) -> None:
        save_model(folder / "digits_cnn_qcfs.pt", model, "digits-cnn", options)
        (folder / "snn").mkdir()
        write_network(snn, folder / "snn", {"source": "digits-cnn QCFS", "statistic": "max"})
        save_data(folder / "calib.npz", calib)
        save_data(folder / "test.npz", Dataset(test.x, test.y, "digits-test"))
        (folder / "results.json").write_text(json.dumps(results, indent=1))

    out = atomic_directory(out, fill)
    console.print(f"wrote {escape(str(out))}/: snn/ (converted network), digits_cnn_qcfs.pt, calib.npz, test.npz, results.json")
    # The suggested convert writes beside this folder, not into it: a folder added here would make
    # the next demo run refuse to replace it (outputs.py keeps what spikeforge did not write here).
    console.print("next: [bold]spikeforge inspect {0}/snn[/]; [bold]spikeforge simulate {0}/snn --data {0}/test.npz "
                  "--timesteps 8[/]; [bold]spikeforge convert {0}/digits_cnn_qcfs.pt --calib {0}/calib.npz -o "
                  "{1}[/]".format(escape(str(out)), escape(str(out.parent / f"{out.name}-snn2"))))
    return results


def main() -> None:  # pragma: no cover - thin wrapper
    run_demo()


if __name__ == "__main__":  # pragma: no cover
    main()
