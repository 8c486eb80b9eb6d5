"""The nets of bench/conversion_suite.py (issue 20) build, run and import into spikeforge.

No training and no data: every net of ``bench/conversion_nets.py`` runs one forward pass on random
input, and ``import_torch`` either imports it (and the imported network computes what torch does)
or refuses it with an ``UnsupportedLayerError`` for a net the bench lists as an expected refusal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.conversion_nets import NETS
from bench.conversion_suite import EXPECTED_REFUSALS, markdown, one_line, targets
from spikeforge.errors import UnsupportedLayerError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.sim.simulator import run_ann


def test_suite_has_ten_architectures_and_every_family():
    assert len(NETS) >= 10
    assert {s.family for s in NETS.values()} == {"relu", "clipped", "qcfs"}
    assert {s.data for s in NETS.values()} == {"mnist", "cifar10", "isbi2012"}
    assert {s.levels for s in NETS.values() if s.family == "qcfs"} == {4, 8}
    assert set(EXPECTED_REFUSALS) <= set(NETS)


@pytest.mark.parametrize("name", list(NETS))
def test_net_builds_runs_and_imports(name):
    spec = NETS[name]
    torch.manual_seed(0)
    model = spec.build().eval()
    x = torch.rand(2, *spec.input_shape)
    with torch.no_grad():
        out = model(x)
    classes = 2 if spec.data == "isbi2012" else 10
    assert out.shape[:2] == (2, classes)
    try:
        ann = import_torch(model, spec.input_shape, name=name)
    except UnsupportedLayerError:
        if name in EXPECTED_REFUSALS:
            return
        raise
    np.testing.assert_allclose(run_ann(ann, x.numpy()), out.numpy(), rtol=1e-4, atol=1e-4)


def test_one_line_error_drops_addresses():
    class Thing:
        pass

    line = one_line(ValueError(f"no node {Thing()!r}\nsecond line"))
    assert line.startswith("ValueError: no node <") and " at 0x" not in line and "second" not in line


def test_targets_and_markdown_from_figures():
    """The Targets rows and the Markdown come out of a results document with JSON string keys."""
    net = {"what": "w", "data": "mnist", "family": "relu", "levels": None,
           "spikeforge": {"ann_accuracy": 0.99, "for_t": {"8": 0.97, "16": 0.985, "32": 0.985},
                          "default": {"8": 0.96, "16": 0.98, "32": 0.99}, "api": {"8": "convert(ann, calib)"},
                          "speed": {"64": {"spikeforge_images_per_s": 300.0, "ann_torch_images_per_s": 900.0,
                                           "snn_over_ann_time": 3.0}}},
           "spikingjelly": {"modes": {"max": {"accuracy": {"8": 0.5, "16": 0.9, "32": 0.99}},
                                      "99.9%": {"error": "RuntimeError: x"}},
                            "speed": {"64": {"images_per_s": 100.0}}}}
    qcfs = {"what": "q", "data": "cifar10", "family": "qcfs", "levels": 4, "spikeforge": {
        "ann_accuracy": 0.6, "for_t": {"4": 0.597, "8": 0.598, "16": 0.59}}}
    broken = {"what": "b", "data": "mnist", "family": "relu", "spikeforge": {
        "ann_accuracy_torch": 0.9, "error": {"stage": "import", "message": "UnsupportedLayerError: mean"}}}
    nets = {"a": net, "q": qcfs, "b": broken}
    rows = {r["target"]: r for r in targets(nets, (4, 8, 16, 32))}
    assert rows["ReLU / clipped-ReLU nets within 3 point(s) of the ANN at T = 8"]["met"]
    assert rows["ReLU / clipped-ReLU nets within 1 point(s) of the ANN at T = 16"]["met"]
    assert not rows["ReLU / clipped-ReLU nets within 0.3 point(s) of the ANN at T = 32"]["met"]
    assert not rows["ahead of SpikingJelly (its best mode) at every T, on every net it converts"]["met"]
    assert rows["≥ 2× SpikingJelly's images/s at T = 8, batch 64"]["met"]
    assert [r["met"] for t, r in rows.items() if t.startswith("QCFS")] == [True, False]
    doc = {"timesteps": [4, 8, 16, 32], "nets": nets, "machine": {}, "samples": 10, "calibration_images": 5,
           "threads": 1, "total_seconds": 60.0, "speed": {"repeat": 3, "images": 512}, "targets": list(rows.values())}
    text = markdown(doc)
    assert "| a | MNIST | 99.00 |" in text and "**missed**" in text and "UnsupportedLayerError: mean" in text


def test_merge_keeps_what_a_rerun_skipped():
    from bench.conversion_suite import merged

    old = {"data": "mnist", "seconds": 5.0, "spikingjelly": {"modes": {}},
           "spikeforge": {"ann_accuracy": 0.9, "default": {"8": 0.8}, "speed": {"64": {}}, "for_t": {"4": 0.7}}}
    new = {"data": "mnist", "seconds": 9.0,
           "spikeforge": {"ann_accuracy": 0.9, "for_t": {8: 0.85}, "convert_seconds": {8: 3.0}}}
    out = merged(old, new)
    assert out["seconds"] == 14.0 and out["spikingjelly"] == {"modes": {}}
    assert out["spikeforge"]["default"] == {"8": 0.8} and "speed" in out["spikeforge"]
    assert out["spikeforge"]["for_t"] == {"4": 0.7, "8": 0.85}
    refused = {"data": "mnist", "spikeforge": {"error": {"stage": "import", "message": "x"}}}
    assert merged(old, refused) is refused and merged(None, new) is new and merged(old, None) is old
