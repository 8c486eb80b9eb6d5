"""IR of the new dynamics: v_reset, LIF bias, CubaLIF, per-neuron parameters, Delay and recurrence,
temporal input; their checks and their round trip through a saved folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikeforge.errors import (
    InvalidNetworkError,
    ModelFileError,
    ShapeError,
    SimulationError,
)
from spikeforge.ir import network as ir
from spikeforge.ir.serialize import load_network, save_network


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


def _recurrent() -> ir.Network:
    rng = np.random.default_rng(0)
    return ir.Network((ir.Input("x", (), (2, 3, 3), temporal=True),
                       ir.Delay("back", ("n",), steps=2, shape=(2, 3, 3)),
                       ir.Add("sum", ("x", "back"), gains=(None, _f32([0.5, -1.0]))),
                       ir.CubaLIF("n", ("sum",), threshold=_f32(rng.uniform(0.5, 1, (2, 3, 3))), v_init=0.0,
                                  v_reset=-0.25, alpha=0.5, beta=0.9, bias=_f32([0.1, 0.2])),
                       ir.LIF("m", ("n",), threshold=_f32([1, 2]), beta=0.8, bias=_f32(0.05))), ("m",), "rec")


def test_recurrent_network_builds_and_summarises():
    net = _recurrent()
    assert net.loops() == (("back", "sum", "n"),) and net.recurrent
    assert [c.name for c in net.consumers("n")] == ["back", "m"]
    rows = {r.name: r for r in net.summary()}
    assert rows["back"].kind == "Delay" and rows["back"].shape == (2, 3, 3) and rows["back"].neurons == 0
    assert rows["n"].kind == "CubaLIF" and rows["n"].neurons == 18 and rows["n"].parameters == 18 + 2
    assert net.node("n").v_reset == -0.25 and net.node("m").v_reset is None
    assert not ir.Network((ir.Input("x", (), (2,)), ir.IF("n", ("x",), threshold=_f32(1))), ("n",)).recurrent


def test_round_trip_keeps_every_new_field(tmp_path):
    net = _recurrent()
    back = load_network(save_network(net, tmp_path / "net"))
    assert back.loops() == net.loops() and back.input.temporal
    for a, b in zip(net.nodes, back.nodes):
        assert type(a) is type(b)
        for f in ("steps", "shape", "alpha", "beta", "v_reset", "v_init"):
            assert getattr(a, f, None) == getattr(b, f, None)
        for f in ("threshold", "bias"):
            if getattr(a, f, None) is not None:
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_old_folder_without_new_fields_loads(tmp_path):
    net = ir.Network((ir.Input("x", (), (2,)), ir.LIF("n", ("x",), threshold=_f32(1), beta=0.5)), ("n",))
    folder = save_network(net, tmp_path / "net")
    doc = json.loads((folder / "network.json").read_text())
    for node in doc["nodes"]:  # as written before v_reset, bias and temporal existed
        for f in ("v_reset", "bias", "temporal"):
            node.pop(f, None)
    (folder / "network.json").write_text(json.dumps(doc))
    old = load_network(folder)
    assert old.node("n").v_reset is None and float(old.node("n").bias) == 0 and not old.input.temporal


def test_hand_edited_delay_shape_is_refused(tmp_path):
    folder = save_network(_recurrent(), tmp_path / "net")
    doc = json.loads((folder / "network.json").read_text())
    doc["nodes"][1]["shape"] = [2, 3, 4]
    (folder / "network.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"layer sum \(Add\): input shapes \[\(2, 3, 3\), \(2, 3, 4\)\] differ"):
        load_network(folder)


def test_cycle_without_delay_is_refused_naming_it():
    eye = np.eye(3, dtype=np.float32)
    with pytest.raises(InvalidNetworkError, match=r"cycle b → a → b has no Delay"):
        ir.Network((ir.Input("x", (), (3,)), ir.Add("a", ("x", "b")), ir.Linear("b", ("a",), eye)), ("b",))
    with pytest.raises(InvalidNetworkError, match=r"layer a: input 'c' is not an earlier layer"):
        ir.Network((ir.Input("x", (), (3,)), ir.Linear("a", ("c",), eye), ir.Linear("c", ("x",), eye)), ("a",))


def test_delay_checks():
    x = ir.Input("x", (), (3,))
    with pytest.raises(InvalidNetworkError, match=r"layer d \(Delay\): input 'ghost' is not a layer"):
        ir.Network((x, ir.Delay("d", ("ghost",), shape=(3,))), ("d",))
    with pytest.raises(ShapeError, match=r"layer d\.shape: \(\) must be a non-empty tuple"):
        ir.Delay("d", ("x",))
    with pytest.raises(InvalidNetworkError, match=r"layer d\.steps: 0 must be ≥ 1"):
        ir.Delay("d", ("x",), steps=0, shape=(3,))
    with pytest.raises(ShapeError, match=r"input shape \(3,\) differs from its declared shape \(4,\)"):
        ir.Network((x, ir.Delay("d", ("x",), shape=(4,))), ("d",))
    fwd = ir.Network((x, ir.Delay("d", ("x",), steps=3, shape=(3,))), ("d",))
    assert fwd.shape("d") == (3,) and not fwd.recurrent


def test_neuron_parameter_checks():
    x = ir.Input("x", (), (2, 4, 4))
    with pytest.raises(ShapeError, match=r"bias shape \(3,\) is neither scalar, per-channel nor per-neuron"):
        ir.Network((x, ir.LIF("n", ("x",), threshold=_f32(1), bias=_f32([1, 2, 3]))), ("n",))
    with pytest.raises(ShapeError, match=r"threshold shape \(4, 4\) is neither scalar"):
        ir.Network((x, ir.IF("n", ("x",), threshold=np.ones((4, 4), np.float32))), ("n",))
    with pytest.raises(InvalidNetworkError, match=r"CubaLIF\): alpha=0 must be a number in \(0, 1\]"):
        ir.CubaLIF("n", ("x",), threshold=_f32(1), alpha=0)
    with pytest.raises(InvalidNetworkError, match=r"layer n\.v_reset: inf is not finite"):
        ir.IF("n", ("x",), threshold=_f32(1), v_reset=float("inf"))
    with pytest.raises(InvalidNetworkError, match=r"layer n\.bias: 1 of 1 values are NaN or Inf"):
        ir.LIF("n", ("x",), threshold=_f32(1), bias=np.nan)
    with pytest.raises(InvalidNetworkError, match=r"layer n\.bias: 'a' is not a number"):
        ir.LIF("n", ("x",), threshold=_f32(1), bias="a")
    with pytest.raises(InvalidNetworkError, match=r"layer x\.temporal: 1 is not true or false"):
        ir.Input("x", (), (2,), temporal=1)
    per_neuron = ir.Network((x, ir.IF("n", ("x",), threshold=np.full((2, 4, 4), 2, np.float32))), ("n",))
    assert per_neuron.node("n").threshold.shape == (2, 4, 4)


def test_temporal_check_input():
    net = ir.Network((ir.Input("x", (), (3,), temporal=True), ir.IF("n", ("x",), threshold=_f32(1))), ("n",))
    assert net.check_input(np.zeros((2, 5, 3)), timesteps=5).shape == (2, 5, 3)
    with pytest.raises(SimulationError, match="data: 4 timesteps of temporal input, the simulation runs 5"):
        net.check_input(np.zeros((2, 4, 3)), "data", timesteps=5)


def test_decays_per_neuron_are_checked_kept_and_collapsed_when_equal():
    n = ir.CubaLIF("n", ("x",), threshold=np.float32(1), alpha=np.array([0.5, 0.75]), beta=np.full(2, 0.9))
    np.testing.assert_array_equal(n.alpha, [0.5, 0.75])
    assert n.beta == 0.9 and isinstance(n.beta, float)  # all equal: one number
    with pytest.raises(InvalidNetworkError, match=r"layer n \(LIF\): beta has 1 of 3 values outside \(0, 1\], e\.g\. 1\.5$"):
        ir.LIF("n", ("x",), threshold=np.float32(1), beta=np.array([0.5, 1.5, 0.9]))
    with pytest.raises(ShapeError, match=r"beta shape \(3,\) is neither scalar, per-channel nor per-neuron"):
        ir.Network((ir.Input("x", (), (2,)),
                    ir.LIF("n", ("x",), threshold=np.float32(1), beta=np.array([0.5, 0.75, 0.9]))), ("n",))
