"""The peers of bench/sim_speed.py (SpikingJelly, sinabs) run the same SNN as spikeforge.

Skipped unless both peers are installed (they live in the benchmark venv, see
bench/requirements-peers.txt): there, outputs and spike counts must match spikeforge's exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("spikingjelly")
pytest.importorskip("sinabs")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import sim_speed
from spikeforge.convert.normalise import convert
from spikeforge.datasets import digits
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.models import build_model


def test_peers_match_spikeforge_spike_for_spike():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    x = torch.as_tensor(digits("test").x[:96])
    snn = convert(import_torch(model, shape), x.numpy())
    peers = {"spikingjelly": sim_speed.spikingjelly_runner(snn), "sinabs": sim_speed.sinabs_runner(snn)}
    result = sim_speed.equivalence(snn, x, None, 64, peers)
    assert result["spikes_total"]["spikeforge"] > 0
    for name in peers:
        assert result["argmax_agreement_" + name] == 1.0
        assert result["spikes_per_layer"][name] == result["spikes_per_layer"]["spikeforge"]
        assert result["max_abs_output_diff_" + name] < 1e-5
    assert np.isfinite(result["spikes_per_sample_per_step"])
