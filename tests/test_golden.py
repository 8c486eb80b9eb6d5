"""Golden results for small end-to-end cases: the pipeline's numbers must not drift silently.

Regenerate after an intended change with ``SPIKEFORGE_REGOLD=1 pytest tests/test_golden.py``.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from spikeforge.convert.normalise import convert
from spikeforge.datasets import digits
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate

GOLDEN = Path(__file__).parent / "golden"


def check(name: str, value: dict, compare) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("SPIKEFORGE_REGOLD") or not path.exists():
        path.write_text(json.dumps(value, indent=1, sort_keys=True))
        pytest.skip(f"wrote golden file {path.name}")
    compare(json.loads(path.read_text()), value)


def test_untrained_digits_cnn_pipeline_is_exact():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    data = digits("test").take(64)
    snn = convert(import_torch(model, shape), data.x, statistic="p99.9")
    result = simulate(snn, data.x, timesteps=8, checkpoints=[4, 8], labels=data.y)
    value = {"spikes": {l.name: l.spikes for l in result.profile.layers if l.neurons},
             "synops": {l.name: l.synops for l in result.profile.layers if l.synops},
             "accuracy": {str(k): v for k, v in result.accuracy.items()}}

    def compare(golden, got):
        assert got["spikes"] == golden["spikes"]
        assert got["synops"] == pytest.approx(golden["synops"], rel=1e-9)
        assert got["accuracy"] == golden["accuracy"]

    check("digits_cnn_untrained", value, compare)


@pytest.mark.usefixtures("one_torch_thread")  # the demo trains: its figures depend on the thread count
def test_demo_results(tmp_path):
    from rich.console import Console

    from spikeforge.demo import run_demo

    results = run_demo(tmp_path / "demo", console=Console(file=open(os.devnull, "w")))
    assert (tmp_path / "demo" / "snn" / "network.json").is_file()
    assert (tmp_path / "demo" / "results.json").is_file()

    def compare(golden, got):
        # Training is deterministic for one thread count on one machine kind; allow two test images
        # (of 450) of drift across CPU kinds.
        for label, model in golden["models"].items():
            assert got["models"][label]["ann_accuracy"] == pytest.approx(model["ann_accuracy"], abs=0.0045)
            for t, acc in model["snn_accuracy"].items():
                assert got["models"][label]["snn_accuracy"][t] == pytest.approx(acc, abs=0.0045)

    summary = {"models": {k: {"ann_accuracy": v["ann_accuracy"], "snn_accuracy": v["snn_accuracy"]}
                          for k, v in results["models"].items()}}
    check("demo", summary, compare)
