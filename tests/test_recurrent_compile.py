"""Compile of the new dynamics on the loihi preset: a temporal-input convolutional LIF network
with a feed-forward Delay compiles end to end (its delayed connection an SDFG channel with
``steps`` initial tokens); a small recurrent CubaLIF network compiles; the NIR paper's recurrent
Braille network compiles with every partitioner on crossbars smaller than its 38-neuron loop
(the mapping properties on random recurrent networks are in ``tests/mapping/test_mapping_recurrent.py``)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from spikeforge.frontends.nir import read_nir
from spikeforge.hardware import load_hardware
from spikeforge.hardware.spec import hardware_to_toml
from spikeforge.ir import network as ir
from spikeforge.ir.serialize import save_network
from spikeforge.mapping.connectivity import afferent_delays
from spikeforge.mapping.partition import PARTITIONERS, partition
from spikeforge.pipeline import CompileOptions, compile_model
from spikeforge.sim.simulator import simulate


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


def _conv_net(steps: int) -> ir.Network:
    rng = np.random.default_rng(0)
    return ir.Network((
        ir.Input("x", (), (2, 8, 8), temporal=True),
        ir.Conv2d("c1", ("x",), _f32(rng.normal(0, 0.6, (4, 2, 3, 3))), padding=(1, 1)),
        ir.LIF("n1", ("c1",), threshold=_f32([1.0, 0.8, 1.2, 1.0]), beta=0.9, bias=_f32(0.02)),
        ir.Delay("d", ("n1",), steps=steps, shape=(4, 8, 8)),
        ir.Conv2d("c2", ("d",), _f32(rng.normal(0, 0.4, (4, 4, 3, 3))), stride=(2, 2), padding=(1, 1)),
        ir.IF("n2", ("c2",), threshold=_f32(1.0), v_reset=0.0),
        ir.Flatten("f", ("n2",)),
        ir.Linear("out", ("f",), _f32(rng.normal(0, 0.3, (3, 64))))), ("out",), "temporal_conv")


def test_temporal_conv_lif_with_delay_compiles_on_loihi(tmp_path):
    rng = np.random.default_rng(1)
    save_network(_conv_net(2), tmp_path / "net")
    np.savez(tmp_path / "data.npz", x=(rng.random((6, 8, 2, 8, 8)) < 0.3).astype(np.float32),
             y=rng.integers(0, 3, 6))
    c = compile_model(CompileOptions(model=str(tmp_path / "net"), hardware="loihi",
                                     calib=str(tmp_path / "data.npz"), timesteps=8), quiet=True)
    assert c.profile.layer("c2").input_kind == "spikes" and c.profile.layer("n1").spikes > 0
    assert 0 < c.guarantee.period_ns < float("inf") and c.figures["energy_per_inference_j"] > 0
    n1, n2 = c.partition.layers.index("n1"), c.partition.layers.index("n2")
    assert (n1, n2, 2) in c.partition.layer_delays


def test_delayed_connection_is_a_channel_with_initial_tokens():
    from spikeforge.dataflow.build import application_graph

    rng = np.random.default_rng(2)
    hw = load_hardware("xbar-mesh")
    for steps in (1, 3):
        net = _conv_net(steps)
        assert afferent_delays(net, "n2") == {"n1": steps}
        prof = simulate(net, (rng.random((3, 6, 2, 8, 8)) < 0.3).astype(np.float32), timesteps=6).profile
        part = partition(net, prof, hw, strategy="tiles")
        graph = application_graph(part, prof, hw)
        layer = {c: part.layers[part.piece_layer[part.piece_cluster == c][0]] for c in range(part.n_clusters)}
        spikes = [ch for ch in graph.channels if re.fullmatch(r"s\d+_\d+", ch.name)]
        into_n2 = [ch.initial_tokens for ch in spikes if layer[int(ch.name[1:].split("_")[0])] == "n1"]
        assert into_n2 and set(into_n2) == {steps}


@pytest.mark.parametrize("partitioner", sorted(PARTITIONERS))
def test_braille_loop_larger_than_a_crossbar_compiles_with_every_partitioner(tmp_path, shared_data, partitioner):
    """The Braille network's recurrent layer (38 CubaLIF neurons, a one-step Delay) on loihi cut to
    16-column crossbars: the loop spans several clusters, its channels between them start with the
    Delay's one token, and the SDFG gives a finite guarantee (was: refused by ``tiles``)."""
    path = shared_data / "nir" / "braille_noDelay_bias_zero.nir"
    if not path.exists():
        pytest.skip(f"{path.name} not in the shared data")
    hw = load_hardware("loihi").replace(core={"crossbar_columns": 16, "neurons_per_core": 16})
    (tmp_path / "small.toml").write_text(hardware_to_toml(hw))
    net = read_nir(path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=(rng.random((4, 10, *net.input.shape)) < 0.3).astype(np.float32),
             y=rng.integers(0, 7, 4))
    c = compile_model(CompileOptions(model=str(path), hardware=str(tmp_path / "small.toml"),
                                     calib=str(tmp_path / "data.npz"), timesteps=10, partitioner=partitioner),
                      quiet=True)
    p = c.partition
    loop = p.layers.index("lif1.lif")
    assert (loop, loop, 1) in p.layer_delays
    assert len(np.unique(p.piece_cluster[p.piece_layer == loop])) >= 3  # 38 neurons, 16 columns
    in_loop = np.setdiff1d(p.piece_cluster, p.piece_cluster[p.piece_layer != loop])  # clusters of the loop alone
    i, j, _ = p.edges()
    among = np.isin(i, in_loop) & np.isin(j, in_loop) & (np.asarray(p.partial_traffic[i, j]).ravel() == 0)
    assert among.any() and set(p.edge_delays(i[among], j[among]).tolist()) == {1}
    assert 0 < c.guarantee.period_ns < float("inf")


def test_small_recurrent_cubalif_compiles_on_loihi(tmp_path):
    rng = np.random.default_rng(0)
    net = ir.Network((ir.Input("x", (), (16,), temporal=True), ir.Linear("fc", ("x",), _f32(rng.normal(0, 0.5, (32, 16)))),
                      ir.Delay("back", ("rec",), shape=(32,)), ir.Add("sum", ("fc", "back")),
                      ir.CubaLIF("n", ("sum",), threshold=_f32(1), alpha=0.8, beta=0.9, bias=_f32(0.01), v_reset=0.0),
                      ir.Linear("rec", ("n",), _f32(rng.normal(0, 0.3, (32, 32)))),
                      ir.Linear("out", ("n",), _f32(rng.normal(0, 0.5, (4, 32))))), ("out",), "rcuba")
    save_network(net, tmp_path / "net")
    np.savez(tmp_path / "data.npz", x=(rng.random((6, 8, 16)) < 0.3).astype(np.float32), y=rng.integers(0, 4, 6))
    c = compile_model(CompileOptions(model=str(tmp_path / "net"), hardware="loihi",
                                     calib=str(tmp_path / "data.npz"), timesteps=8), quiet=True)
    assert c.profile.layer("rec").synops > 0 and 0 < c.guarantee.period_ns < float("inf")
    n = c.partition.layers.index("n")
    assert (n, n, 1) in c.partition.layer_delays


def test_cubalif_neurons_are_charged_a_current_update_as_well():
    from spikeforge.mapping.report import mapping_energy

    rng = np.random.default_rng(3)
    hw = load_hardware("loihi")
    fc = _f32(rng.normal(0, 0.8, (24, 16)))
    updates = {}
    for neuron in (ir.LIF("n", ("fc",), threshold=_f32(1), beta=0.9),
                   ir.CubaLIF("n", ("fc",), threshold=_f32(1), alpha=0.5, beta=0.9),
                   ir.LI("n", ("fc",), beta=0.9), ir.CubaLI("n", ("fc",), alpha=0.5, beta=0.9)):
        net = ir.Network((ir.Input("x", (), (16,)), ir.Linear("fc", ("x",), fc), neuron), ("n",))
        prof = simulate(net, rng.random((2, 16)), timesteps=5).profile
        part = partition(net, prof, hw, strategy="tiles")
        core = np.arange(part.n_clusters)
        updates[type(neuron).__name__] = mapping_energy(part, hw, core, profile=prof, time_s=1e-3).neuron_updates
        assert mapping_energy(part, hw, core, profile=None, time_s=1e-3).neuron_updates == updates["LIF"]
    assert updates["CubaLIF"] - updates["LIF"] == 24 * 5
    assert updates["CubaLI"] - updates["LI"] == 24 * 5 and updates["LI"] == updates["LIF"]
