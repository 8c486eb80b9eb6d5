"""The SANA-FE backend (issue 22): what is exported, and SANA-FE's run of it against spikeforge's.

Tests that run SANA-FE skip with the reason where ``sanafe`` is not installed (``pip install
'spikeforge[sanafe]'``; CI installs the extra, so the cross-check runs there on small cases).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from spikeforge.backends.sanafe import (
    architecture_yaml,
    require_sanafe,
    run_sanafe,
    sanafe_plan,
)
from spikeforge.errors import (
    CapacityError,
    InvalidDataError,
    InvalidNetworkError,
    MissingDependencyError,
    SimulationError,
    UnsupportedLayerError,
)
from spikeforge.hardware import load_hardware
from spikeforge.ir import network as ir


def conv_net(rng=None) -> ir.Network:
    """Conv (padding, bias) → IF → strided conv → IF → Flatten → Linear → IF → Linear read-out."""
    rng = rng or np.random.default_rng(0)
    return ir.Network((
        ir.Input("x", (), (1, 8, 8)),
        ir.Conv2d("c1", ("x",), rng.integers(-3, 6, (4, 1, 3, 3)).astype(np.float32),
                  bias=rng.integers(-2, 3, 4).astype(np.float32), padding=(1, 1)),
        ir.IF("n1", ("c1",), threshold=np.float32(40)),
        ir.Conv2d("c2", ("n1",), rng.integers(-2, 4, (6, 4, 3, 3)).astype(np.float32), stride=(2, 2)),
        ir.IF("n2", ("c2",), threshold=np.array([5, 6, 7, 8, 9, 10], np.float32)),
        ir.Flatten("f", ("n2",)),
        ir.Linear("l", ("f",), rng.integers(-2, 3, (10, 54)).astype(np.float32), bias=np.ones(10, np.float32)),
        ir.IF("n3", ("l",), threshold=np.float32(3)),
        ir.Linear("out", ("n3",), rng.integers(-2, 3, (3, 10)).astype(np.float32))), ("out",), name="conv-net")


def skip_net(rng=None) -> ir.Network:
    """A U-Net-like skip: n1 feeds n3 directly and through n2 (paths of one and two layers), joined by
    a Concat into a convolution, and a residual Add of a sum-pooled branch."""
    rng = rng or np.random.default_rng(1)

    def w(*shape):
        return rng.integers(-2, 4, shape).astype(np.float32)

    return ir.Network((
        ir.Input("x", (), (2, 6, 6)),
        ir.Conv2d("c1", ("x",), w(3, 2, 3, 3), padding=(1, 1)),
        ir.IF("n1", ("c1",), threshold=np.float32(12)),
        ir.Conv2d("c2", ("n1",), w(3, 3, 3, 3), padding=(1, 1)),
        ir.IF("n2", ("c2",), threshold=np.float32(4)),
        ir.Concat("cat", ("n2", "n1")),
        ir.Conv2d("c3", ("cat",), w(4, 6, 1, 1)),
        ir.Conv2d("up", ("n2",), w(4, 3, 3, 3), padding=(1, 1)),
        ir.Add("add", ("c3", "up")),
        ir.IF("n3", ("add",), threshold=np.float32(3)),
        ir.Conv2d("pool", ("n3",), np.ones((4, 1, 2, 2), np.float32), stride=(2, 2), groups=4),
        ir.Flatten("f", ("pool",)),
        ir.Linear("out", ("f",), w(2, 36))), ("out",), name="skip-net")


def placed(net, x, hw_name: str, T: int, partitioner: str = "greedy"):
    from spikeforge.pipeline import chips_needed, partition_pass, place_pass
    from spikeforge.sim.simulator import simulate

    hw = load_hardware(hw_name)
    profile = simulate(net, x, timesteps=T, integer=True).profile
    part = partition_pass(net, profile, hw, partitioner)
    return place_pass(part, hw, "fill", chips_needed(part.n_clusters, hw), None), profile, hw


# ---------------------------------------------------------------------------------------------
# the export, without SANA-FE


def test_plan_depths_delays_and_synapses():
    plan = {layer.name: layer for layer in sanafe_plan(skip_net())}
    assert [plan[n].depth for n in ("n1", "n2", "n3", "out")] == [0, 1, 2, 3]
    delays = {source: delay for source, *_, delay in plan["n3"].synapses}
    assert delays == {"n2": 0, "n1": 1}  # the short path waits one timestep
    assert plan["out"].readout and plan["out"].threshold.min() > 1e20
    # the 1×1 conv over [n2, n1] reaches n3 from both sources; zero weights keep their synapses
    dense = {source: len(pre) for source, pre, *_ in plan["n3"].synapses}
    assert dense["n1"] == 4 * 3 * 36
    conv = {layer.name: layer for layer in sanafe_plan(conv_net())}
    assert conv["n1"].static and not conv["n1"].synapses  # fed by the input: its current is per sample
    assert conv["n3"].bias.tolist() == [1.0] * 10 and conv["n1"].v0.tolist()[:2] == [20.0, 20.0]


def test_plan_refuses_what_sanafe_cannot_run():
    x = ir.Input("x", (), (1, 4, 4))
    leaky = ir.Network((x, ir.Conv2d("c", ("x",), np.ones((1, 1, 1, 1), np.float32)),
                        ir.LIF("n", ("c",), threshold=np.float32(2), beta=0.5)), ("n",))
    with pytest.raises(UnsupportedLayerError, match=r"layer n \(LIF\): only IF neurons"):
        sanafe_plan(leaky)
    pooled = ir.Network((x, ir.Conv2d("c", ("x",), np.ones((1, 1, 1, 1), np.float32)),
                         ir.IF("n", ("c",), threshold=np.float32(2)), ir.MaxPool2d("m", ("n",), kernel=(2, 2)),
                         ir.Flatten("f", ("m",)), ir.Linear("o", ("f",), np.ones((2, 4), np.float32))), ("o",))
    with pytest.raises(UnsupportedLayerError, match=r"layer m \(MaxPool2d\) is not linear in spikes"):
        sanafe_plan(pooled)
    floats = ir.Network((x, ir.Conv2d("c", ("x",), np.full((1, 1, 1, 1), 0.5, np.float32)),
                         ir.IF("n", ("c",), threshold=np.float32(2))), ("n",))
    with pytest.raises(InvalidNetworkError, match=r"layer c weights holds the non-integer 0.5"):
        sanafe_plan(floats)


def test_architecture_keeps_coordinates_and_costs():
    hw = load_hardware("loihi")
    text, tile_of = architecture_yaml(hw, {"a": np.array([0, 0, 9]), "b": np.array([17])})
    # spikeforge core g sits at (g % 8, g // 8); SANA-FE numbers tiles column by column
    assert tile_of == {0: 0, 9: 1 * 3 + 1, 17: 1 * 3 + 2}
    assert "width: 2" in text and "height: 3" in text and f"latency_sync: {1800.0 * 1e-9!r}" in text
    assert f"energy_process_spike: {23.6e-12!r}" in text and "energy_east_hop: 3.5e-12" in text
    with pytest.raises(CapacityError, match="neurons on 2 chips of loihi"):
        architecture_yaml(hw.with_chips(2), {"a": np.array([0, 128])})
    with pytest.raises(CapacityError, match="core 0 holds 1025 neurons, loihi has 1024 per core"):
        architecture_yaml(hw, {"a": np.zeros(1025, np.int64)})


def test_missing_sanafe_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sanafe", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'spikeforge\[sanafe\]'"):
        require_sanafe()


def test_simulate_backend_sanafe_without_sanafe_is_one_line(monkeypatch, tmp_path, capsys):
    from spikeforge.cli import main
    from spikeforge.datasets import Dataset, save_data
    from spikeforge.quantize.core import QuantizedNetwork, save_quantized

    save_quantized(QuantizedNetwork(conv_net(), 8, 16, None, False, 8, 1.0), tmp_path / "q")
    save_data(tmp_path / "d.npz", Dataset(np.zeros((1, 1, 8, 8), np.float32), None, "d"))
    monkeypatch.setitem(sys.modules, "sanafe", None)
    assert main(["simulate", str(tmp_path / "q"), "--data", str(tmp_path / "d.npz"), "--backend", "sanafe"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'spikeforge[sanafe]'" in err


def test_spikeforge_never_imports_sanafe():
    code = ("import sys, spikeforge, spikeforge.backends.sanafe, spikeforge.cli; "
            "sys.exit(int('sanafe' in sys.modules or 'sanafecpp' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------------------------------------
# SANA-FE's run against spikeforge's


@pytest.fixture
def sanafe_installed():
    return pytest.importorskip("sanafe", reason="sanafe not installed (pip install 'spikeforge[sanafe]')")


@pytest.mark.parametrize("hw_name", ["loihi", "truenorth"])
def test_spikes_energy_and_time_agree(sanafe_installed, hw_name):
    from spikeforge.dataflow.build import placement_guarantee

    net, T = conv_net(), 6
    x = np.random.default_rng(2).integers(0, 16, (3, 1, 8, 8)).astype(np.float32)
    placement, profile, hw = placed(net, x, hw_name, T)
    run = run_sanafe(net, placement, x, timesteps=T)
    assert run.spikes_identical and run.steps == T + 3
    assert {k: v.sum() for k, v in run.spikes.items()} == {k: v.sum() for k, v in run.reference.items()}
    e = hw.energy
    # the same events at the same costs: synaptic events, spikes, neuron updates inside the windows
    assert run.events["synaptic_events"] == pytest.approx(profile.synops_per_sample, rel=1e-12)
    assert run.energy_j["synapse"] == pytest.approx(profile.synops_per_sample * e.per_synop_pj * 1e-12, rel=1e-9)
    updates = net.neuron_count() + 3  # neurons and the read-out's columns, every timestep
    assert run.energy_j["soma"] - run.fill_soma_j == pytest.approx(
        (profile.spikes_per_sample * e.per_spike_pj + updates * T * e.per_neuron_update_pj) * 1e-12, rel=1e-9)
    # a calibrated simulator never beats the guarantee (the timestep barrier is modelled)
    guarantee = placement_guarantee(placement, profile, hw, timesteps=T)
    assert run.time_per_timestep_s * 1e9 <= guarantee.period_ns
    assert run.step_time_s.shape == (3, T + 3) and (run.step_time_s > 0).all()
    assert run.steady_time_per_timestep_s * 1e9 <= guarantee.period_ns


def test_skips_meet_through_delays(sanafe_installed):
    net, T = skip_net(), 5
    x = np.random.default_rng(3).integers(0, 8, (2, 2, 6, 6)).astype(np.float32)
    placement, _, _ = placed(net, x, "loihi", T)
    run = run_sanafe(net, placement, x, timesteps=T)
    assert run.spikes_identical and all(run.reference[n].sum() > 0 for n in ("n1", "n2", "n3"))
    assert run.depth == {"n1": 0, "n2": 1, "n3": 2, "out": 3}


def test_run_refuses_bad_input(sanafe_installed):
    net = conv_net()
    x = np.random.default_rng(2).integers(0, 16, (1, 1, 8, 8)).astype(np.float32)
    placement, _, _ = placed(net, x, "loihi", 2)
    with pytest.raises(SimulationError, match="run_sanafe: timesteps"):
        run_sanafe(net, placement, x, timesteps=0)
    with pytest.raises(InvalidDataError, match="inputs must be integers"):
        run_sanafe(net, placement, x + 0.5, timesteps=2)
    other, _, _ = placed(skip_net(), np.zeros((1, 2, 6, 6), np.float32), "loihi", 2)
    with pytest.raises(InvalidDataError, match="layer n1 has 256 neurons, the partition of skip-net places 108"):
        run_sanafe(conv_net(), other, x, timesteps=2)


def test_simulate_backend_sanafe_and_neurobench(sanafe_installed, tmp_path):
    from spikeforge.cli import build_parser
    from spikeforge.datasets import Dataset, save_data
    from spikeforge.quantize.core import QuantizedNetwork, save_quantized

    net = conv_net()
    rng = np.random.default_rng(5)
    save_quantized(QuantizedNetwork(net, 8, 16, None, False, 8, 1.0), tmp_path / "q")
    save_data(tmp_path / "data.npz", Dataset(rng.integers(0, 16, (3, 1, 8, 8)).astype(np.float32),
                                             rng.integers(0, 3, 3), "d"))
    args = build_parser().parse_args(["simulate", str(tmp_path / "q"), "--data", str(tmp_path / "data.npz"),
                                      "-T", "4", "--backend", "sanafe", "--hw", "loihi", "--json",
                                      str(tmp_path / "r.json"), "--neurobench", str(tmp_path / "nb.json")])
    out = Console(record=True, width=200)
    args.run(args, out)
    text = out.export_text()
    assert "spikes identical per layer and timestep: yes" in text and "SANA-FE on loihi" in text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["sanafe"]["spikes_identical"] and report["sanafe"]["guaranteed_period_ns"] > 0
    nb = json.loads((tmp_path / "nb.json").read_text())
    assert {"Footprint", "SynapticOperations", "MembraneUpdates", "ClassificationAccuracy"} <= set(nb)
