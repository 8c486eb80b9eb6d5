"""Issue 6: the standard SNN application suite (after Song et al., LCTES 2020), on xbar-mesh and loihi.

Runs :func:`spikeforge.apps.suite.run_suite` on the real data in ../shared/data: image smoothing
and edge detection (hand-built SNNs on ISBI 2012 EM crops, ``greedy`` partitioner), MLP and
LeNet-5 on MNIST (5k training images, 10k test), a CNN on CIFAR-10 (the reference VGG-11
checkpoint when it exists, else a small fallback CNN trained for a couple of epochs; ``tiles``
partitioner) and heartbeat classification on MIT-BIH record 100. Writes
``bench/results/app_suite.{json,md}``; trained models are cached in bench.common.CACHE.

    nice -n 10 python -m bench.app_suite [--tiny] [--apps ...] [--cifar-checkpoint FILE]
    python -m bench.app_suite --markdown      (rewrite the .md from the .json)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, DATA, RESULTS, ROOT, write_results
from spikeforge.apps.suite import (
    APPS,
    COLUMNS,
    SuiteConfig,
    SuiteRow,
    row_cells,
    run_suite,
    suite_table,
)


def reference_cifar_checkpoint() -> str | None:
    """The reference VGG-11 CIFAR-10 model file (``bench/train_cifar.py``), or None while it is absent."""
    from bench.train_cifar import reference_checkpoint

    path = reference_checkpoint("vgg11")
    return str(path) if path.is_file() else None


def _in_repo(path: str | None) -> str | None:
    """A path as written to results: relative to the repository root when inside it (no machine paths)."""
    if path is None or not Path(path).resolve().is_relative_to(ROOT):
        return path
    return str(Path(path).resolve().relative_to(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test); writes app_suite_tiny")
    ap.add_argument("--apps", nargs="+", default=list(APPS), choices=list(APPS))
    ap.add_argument("--cifar-checkpoint", default=None, help="CIFAR-10 model file (default: the reference VGG-11)")
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md from the .json")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the benchmark shares its machine
    name = "app_suite" + ("_tiny" if args.tiny else "")
    if args.markdown:
        write_markdown(name)
        return
    config = SuiteConfig.tiny() if args.tiny else SuiteConfig()
    config = replace(config, cifar_checkpoint=args.cifar_checkpoint or reference_cifar_checkpoint())
    load_start, t0 = os.getloadavg(), time.time()
    result = run_suite(DATA, CACHE, apps=args.apps, config=config)
    apps = {n: {"model": a.model, "data": a.data, "partitioner": a.partitioner, "timesteps": a.timesteps,
                "figures": {**a.figures, **({"checkpoint": _in_repo(a.figures["checkpoint"])}
                                           if "checkpoint" in a.figures else {})}}
            for n, a in result.apps.items()}
    config_out = {**asdict(config), "cifar_checkpoint": _in_repo(config.cifar_checkpoint)}
    write_results(name, {"rows": [r.as_dict() for r in result.rows], "apps": apps, "config": config_out,
                         "seconds": time.time() - t0,
                         "load_average": {"start": load_start, "end": os.getloadavg()}})
    write_markdown(name)
    from rich.console import Console

    Console(width=220).print(suite_table(result.rows))


def write_markdown(name: str) -> None:
    """The suite table from ``bench/results/NAME.json``, with what each application ran."""
    doc = json.loads((RESULTS / f"{name}.json").read_text())
    rows = [SuiteRow(**r) for r in doc["rows"]]
    la = doc["load_average"]
    lines = [(f"Machine: {doc['machine']['cpu']}, {doc['machine']['cpu_count']} cores shared with other jobs "
             f"(load average 1/5/15 min at start {', '.join(f'{v:.1f}' for v in la['start'])}, at end "
             f"{', '.join(f'{v:.1f}' for v in la['end'])}); {doc['machine']['date'][:10]}; whole run "
             f"{doc['seconds'] / 60:.0f} min."), "",
             ("Throughput and latency are the SDFG's guaranteed (Max-Plus) figures at T timesteps per inference; "
             "energy per inference is the hardware model's estimate from the profiled event counts. Each "
             "application is placed (`min-cut`) on as many chips as its partition needs."), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row_cells(r)) + " |" for r in rows]
    lines += ["", "| application | model | evaluated on |", "|---|---|---|"]
    lines += [f"| {n} | {a['model']} | {a['data']} |" for n, a in doc["apps"].items()]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
