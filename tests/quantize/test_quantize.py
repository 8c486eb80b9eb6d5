"""Quantisation: folding, bit-exact integer simulation (against an independent numpy reference),
saturation counting, error messages, and the accuracy of an 8-bit digits SNN."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spikeforge.errors import NotConvertedError, QuantizationError, SimulationError
from spikeforge.ir import network as ir
from spikeforge.quantize import (
    load_quantized,
    quantize,
    quantize_weights,
    save_quantized,
    simulate_integer,
)
from spikeforge.sim.simulator import simulate


# -- an independent numpy reference of the integer update (int64, saturating) ------------------
def _conv(x, w, b, stride, pad, groups):
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), np.int64)
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + stride[0] * ho:stride[0], j:j + stride[1] * wo:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return out + (0 if b is None else b.astype(np.int64)[None, :, None, None])


def reference(net, x, timesteps, membrane_bits=None):
    """Spike counts per layer, read-out accumulated over T, overflow counts."""
    lo, hi = (-(2 ** (membrane_bits - 1)), 2 ** (membrane_bits - 1) - 1) if membrane_bits else (-2**62, 2**62)
    x = x.astype(np.int64)
    v, counts, over, acc = {}, {}, {}, None
    for _ in range(timesteps):
        vals = {}
        for node in net.nodes:
            i = [vals[s] for s in node.inputs]
            if isinstance(node, ir.Input):
                vals[node.name] = x
            elif isinstance(node, ir.Linear):
                vals[node.name] = i[0] @ node.weight.astype(np.int64).T + (0 if node.bias is None else node.bias)
            elif isinstance(node, ir.Conv2d):
                vals[node.name] = _conv(i[0], node.weight.astype(np.int64), node.bias, node.stride, node.padding,
                                        node.groups)
            elif isinstance(node, ir.Flatten):
                vals[node.name] = i[0].reshape(len(i[0]), -1)
            elif isinstance(node, ir.Add):
                gains = node.gains or (None,) * len(i)
                vals[node.name] = sum(a if g is None else a * np.asarray(g, np.int64).reshape(-1, *[1] * (a.ndim - 2))
                                      for a, g in zip(i, gains))
            else:  # IF
                th = np.asarray(node.threshold, np.int64).reshape(-1, *[1] * (i[0].ndim - 2))
                th = np.broadcast_to(th, i[0].shape[1:]) if th.ndim else th
                if node.name not in v:
                    v[node.name] = np.broadcast_to(np.floor(node.v_init * th.astype(np.float64)), i[0].shape) \
                        .astype(np.int64)
                    counts[node.name], over[node.name] = 0, 0
                pre = v[node.name] + i[0]
                over[node.name] += int(((pre < lo) | (pre > hi)).sum())
                pre = np.clip(pre, lo, hi)
                s = (pre >= th).astype(np.int64)
                v[node.name] = pre - s * th
                counts[node.name] = counts[node.name] + s.sum(0)
                vals[node.name] = s
        out = vals[net.outputs[0]]
        pre = out if acc is None else acc + out
        over["readout"] = over.get("readout", 0) + int(((pre < lo) | (pre > hi)).sum())
        acc = np.clip(pre, lo, hi)
    return counts, acc, over


# -- random float SNNs: conv, IF, average pool, residual Add, read-out --------------------------
def random_snn(seed: int, residual: bool, avgpool: bool) -> ir.Network:
    r = np.random.default_rng(seed)

    def w(*shape, scale=0.6):
        return (r.normal(0, scale, shape)).astype(np.float32)

    def thr(c):
        return r.uniform(0.3, 1.5, c).astype(np.float32) if r.random() < 0.5 else np.float32(r.uniform(0.3, 1.5))

    nodes = [ir.Input("x", (), (2, 6, 6)),
             ir.Conv2d("c1", ("x",), w(3, 2, 3, 3), w(3, scale=0.2), padding=1),
             ir.IF("n1", ("c1",), threshold=thr(3), v_init=float(r.uniform(0, 0.99)))]
    last = "n1"
    if residual:
        nodes += [ir.Conv2d("c2", ("n1",), w(3, 3, 3, 3), None, padding=1),
                  ir.Add("add", ("c2", "n1"), gains=(None, r.uniform(0.2, 1.2, 3).astype(np.float32))),
                  ir.IF("n2", ("add",), threshold=thr(3), v_init=0.5)]
        last = "n2"
    if avgpool:
        nodes += [ir.AvgPool2d("pool", (last,), kernel=2),
                  ir.Conv2d("c3", ("pool",), w(4, 3, 2, 2), w(4, scale=0.2), stride=(1, 1)),
                  ir.IF("n3", ("c3",), threshold=thr(4), v_init=0.5)]
        last = "n3"
    nodes += [ir.Flatten("flat", (last,))]
    n_in = int(np.prod(ir.Network(tuple(nodes), (last,)).shape(last)))
    nodes += [ir.Linear("fc", ("flat",), w(5, n_in), w(5, scale=0.1))]
    return ir.Network(tuple(nodes), ("fc",), name=f"random{seed}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), residual=st.booleans(), avgpool=st.booleans(),
       weight_bits=st.integers(2, 8), threshold_bits=st.integers(6, 14), per_channel=st.booleans(),
       membrane_extra=st.one_of(st.none(), st.integers(1, 4)), timesteps=st.integers(1, 6))
def test_integer_simulation_matches_numpy_reference(seed, residual, avgpool, weight_bits, threshold_bits,
                                                    per_channel, membrane_extra, timesteps):
    snn = random_snn(seed, residual, avgpool)
    membrane = None if membrane_extra is None else threshold_bits + membrane_extra
    q = quantize(snn, weight_bits=weight_bits, threshold_bits=threshold_bits, membrane_bits=membrane,
                 per_channel=per_channel)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (3, 2, 6, 6)).astype(np.float32)
    xi = q.quantize_input(x)
    result = simulate_integer(q, x, timesteps)
    counts, acc, over = reference(q.network, xi, timesteps, membrane)
    for name, c in counts.items():
        assert np.array_equal(result.spike_counts[name], c), name
        assert result.overflows[name] == over[name], name
    assert np.array_equal(result.outputs["fc"], acc)
    assert result.overflows["fc"] == over["readout"]
    if membrane is None:  # no saturation: the simulator's integer mode agrees bit for bit
        sim = simulate(q.network, xi, timesteps=timesteps, integer=True)
        for layer in sim.profile.layers:
            if layer.spike_counts is not None:
                assert np.array_equal(layer.spike_counts, result.spike_counts[layer.name])
        assert np.array_equal(np.round(sim.outputs[timesteps] * timesteps).astype(np.int64), result.outputs["fc"])


def test_saturation_is_counted_not_silent():
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("w", ("x",), np.array([[3]])),
                      ir.IF("n", ("w",), threshold=np.float32(4), v_init=0.0),
                      ir.Linear("out", ("n",), np.array([[100]]))), ("out",))
    r = simulate_integer(net, np.array([[2.0]]), timesteps=4, membrane_bits=8)  # -128..127
    # v: 6→2 (spike), 8→4 (spike), 10→6, 12→8: 4 spikes, no membrane overflow;
    # read-out 100 per spike: 100, 200 → saturates at 127 from step 2 on
    assert int(r.spike_counts["n"][0]) == 4 and r.overflows["n"] == 0
    assert r.overflows["out"] == 3 and int(r.outputs["out"][0, 0]) == 127
    assert r.membrane_bits_needed == 9  # 127 + 100 seen before clamping: a lower bound once saturating
    unbounded = simulate_integer(net, np.array([[2.0]]), timesteps=4)
    assert unbounded.total_overflows == 0 and unbounded.membrane_bits_needed == 10  # |400|: 9 bits + sign
    with pytest.raises(QuantizationError, match=r"threshold 4 does not fit the 3-bit membrane \(max 3\)"):
        simulate_integer(net, np.array([[2.0]]), timesteps=4, membrane_bits=3)


def test_integer_simulation_rejects_float_networks():
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("w", ("x",), np.array([[0.5]], np.float32)),
                      ir.IF("n", ("w",), threshold=np.float32(1))), ("n",))
    with pytest.raises(SimulationError, match="1 non-integer parameters"):
        simulate_integer(net, np.array([[1.0]]), timesteps=2)
    with pytest.raises(SimulationError, match="timesteps=0"):
        simulate_integer(net, np.array([[1.0]]), timesteps=0)


# -- folding ----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=5),
                    elements=st.floats(-10, 10, allow_nan=False)),
       bits=st.integers(2, 8), per_channel=st.booleans())
def test_dequantised_weight_error_is_at_most_half_a_step(w, bits, per_channel):
    q, step = quantize_weights(w, bits, axis=0 if per_channel else None)
    view = step.reshape(-1, *[1] * (w.ndim - 1)) if per_channel else step
    assert np.all(np.abs(w - q * view) <= view / 2 + 1e-12 * np.abs(w).max(initial=1))
    assert np.abs(q).max(initial=0) <= 2 ** (bits - 1) - 1


def test_layer_weights_within_half_step_of_folded_float_weights():
    snn = random_snn(3, residual=False, avgpool=True)
    q = quantize(snn, weight_bits=5, per_channel=True)
    step = q.layer_scales["c1"]
    w_eff = snn.node("c1").weight.astype(np.float64) * q.input_scale
    err = np.abs(w_eff - q.network.node("c1").weight * step[:, None, None, None])
    assert np.all(err <= step[:, None, None, None] / 2 + 1e-15)
    assert q.network.node("c1").weight.dtype == np.int32


def test_avgpool_becomes_integer_sum_pool_with_scale_in_next_layer():
    snn = random_snn(4, residual=False, avgpool=True)
    q = quantize(snn)
    pool = q.network.node("pool")
    assert isinstance(pool, ir.Conv2d) and pool.groups == 3 and np.all(pool.weight == 1)
    assert not any(isinstance(n, ir.AvgPool2d) for n in q.network.nodes)
    # c3's folded weights include the 1/4 of the 2x2 average: W_eff = W / 4 (input unit 1/k²)
    step = float(q.layer_scales["c3"][0])  # per tensor
    assert np.allclose(q.network.node("c3").weight * step, snn.node("c3").weight / 4, atol=step / 2 + 1e-12)


def test_hand_computed_folding():
    snn = ir.Network((ir.Input("x", (), (2,)),
                      ir.Linear("fc", ("x",), np.array([[0.5, -0.25]], np.float32), np.array([0.1], np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1.0), v_init=0.5),
                      ir.Linear("out", ("n",), np.array([[2.0], [-1.0]], np.float32))), ("out",))
    q = quantize(snn, weight_bits=4, input_bits=8)
    delta = 0.5 / 255 / 7
    assert q.layer_scales["fc"] == pytest.approx([delta])
    assert q.network.node("fc").weight.tolist() == [[7, -4]]
    assert q.network.node("fc").bias.tolist() == [round(0.1 / delta)]  # 357
    assert float(q.network.node("n").threshold) == round(1 / delta) == 3570
    assert q.network.node("out").weight.tolist() == [[7], [-4]]  # per tensor: 2/7 step
    assert q.output_scales["out"] == pytest.approx(2 / 7)
    assert q.dequantize(np.array([[7.0, -4.0]]))[0].tolist() == pytest.approx([2.0, -8 / 7])


def test_threshold_bits_coarsen_the_step_instead_of_overflowing():
    snn = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[0.8]], np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1.0))), ("n",))
    # 8-bit weights alone would give Δ = 0.8/255/127 and a threshold of 40,481 (16 bits);
    # with 8-bit thresholds Δ coarsens to 1/255: threshold 255, weight round(0.8) = 1
    assert float(quantize(snn, threshold_bits=16).network.node("n").threshold) == 40481
    q = quantize(snn, weight_bits=8, threshold_bits=8)
    assert float(q.network.node("n").threshold) == 255
    assert q.network.node("fc").weight.tolist() == [[1]]


def test_residual_gains_are_integers_with_a_shared_scale():
    snn = random_snn(5, residual=True, avgpool=False)
    q = quantize(snn, weight_bits=6)
    add = q.network.node("add")
    unit = float(q.layer_scales["add"][0])
    assert np.all(q.layer_scales["add"] == unit)
    gains = [np.ones(3, np.int32) if g is None else np.broadcast_to(g, (3,)) for g in add.gains]
    assert all(g.dtype == np.int32 for g in gains)
    assert min(int(np.abs(g).min()) for g in gains) >= 31 // 2  # the finest input keeps weight resolution


def test_identity_shortcut_keeps_both_branches(residual_model):
    """A residual block adds a convolution (fine accumulator unit) to spikes (a whole threshold):
    the shared Add unit follows the finer one, so neither branch is rounded to a zero gain and the
    integer network computes what the float SNN does."""
    from spikeforge.convert.normalise import convert
    from spikeforge.frontends.torch_fx import import_torch

    x = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    snn = convert(import_torch(residual_model, (1, 8, 8)), x)
    q = quantize(snn, weight_bits=8, threshold_bits=24)
    adds = [n for n in q.network.nodes if isinstance(n, ir.Add)]
    assert adds and all(np.all(np.asarray(g) != 0) for n in adds for g in (n.gains or ()) if g is not None)
    out = snn.outputs[0]
    float_out = simulate(snn, x, timesteps=16).outputs[16]
    int_out = q.dequantize(simulate_integer(q, x, timesteps=16).outputs[out], out)
    assert np.corrcoef(float_out.ravel(), int_out.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("threshold_bits", [8, 16])
def test_residual_gains_fit_threshold_bits(threshold_bits):
    snn = random_snn(5, residual=True, avgpool=False)
    add = snn.node("add")
    wide = ir.Network(tuple(dataclasses.replace(add, gains=(None, np.float32(1e3))) if n.name == "add" else n
                            for n in snn.nodes), snn.outputs)
    gains = quantize(wide, weight_bits=8, threshold_bits=threshold_bits).network.node("add").gains
    assert max(int(np.abs(np.asarray(g)).max()) for g in gains if g is not None) <= 2**threshold_bits - 1


def test_save_and_load_round_trip(tmp_path):
    q = quantize(random_snn(6, True, True), weight_bits=6, per_channel=True, membrane_bits=20)
    save_quantized(q, tmp_path / "q", {"source": "test"})
    back = load_quantized(tmp_path / "q")
    assert back.weight_bits == 6 and back.membrane_bits == 20 and back.per_channel
    assert back.input_scale == q.input_scale
    assert np.array_equal(back.network.node("c1").weight, q.network.node("c1").weight)
    assert back.output_scales["fc"] == pytest.approx(q.output_scales["fc"])


def test_calibration_sets_the_input_range_signed_when_negative():
    snn = random_snn(7, False, False)
    q = quantize(snn, input_bits=8, calib=np.full((2, 2, 6, 6), 2.0, np.float32))
    assert q.input_scale == pytest.approx(2 / 255) and not q.input_signed
    q = quantize(snn, input_bits=8, calib=np.full((2, 2, 6, 6), -2.0, np.float32))
    assert q.input_scale == pytest.approx(2 / 127) and q.input_signed
    assert q.quantize_input(np.array([-3.0, 0.5])).tolist() == [-127.0, 32.0]


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"weight_bits": 1}, r"weight_bits=1: must be in 2\.\.8"),
    ({"weight_bits": 9}, r"weight_bits=9: must be in 2\.\.8"),
    ({"weight_bits": 8.0}, r"weight_bits=8\.0: must be an integer in 2\.\.8"),
    ({"weight_bits": True}, r"weight_bits=True: must be an integer"),
    ({"threshold_bits": 1}, r"threshold_bits=1: must be in 2\.\.24"),
    ({"threshold_bits": 30}, r"threshold_bits=30: must be in 2\.\.24"),
    ({"input_bits": 0}, r"input_bits=0: must be in 1\.\.16"),
    ({"membrane_bits": 16}, r"membrane_bits=16: must be in 17\.\.53"),
    ({"input_range": -1.0}, r"input range -1\.0: must be finite and > 0"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(QuantizationError, match=match):
        quantize(random_snn(0, False, False), **kwargs)


def test_not_an_snn():
    ann = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.ones((2, 2), np.float32)),
                      ir.ReLU("r", ("fc",))), ("r",), name="mlp")
    with pytest.raises(NotConvertedError, match="quantize: network mlp has no spiking neurons; convert it first"):
        quantize(ann)


def test_threshold_that_cannot_fit_is_reported_with_numbers():
    # the neuron reads the input directly: no synaptic layer can absorb the scale
    snn = ir.Network((ir.Input("x", (), (2,)), ir.IF("n", ("x",), threshold=np.float32(100.0))), ("n",))
    with pytest.raises(QuantizationError, match=r"layer n: threshold 25500 .* needs 15 bits, threshold_bits=8"):
        quantize(snn, threshold_bits=8)


# -- accuracy of an 8-bit digits SNN ---------------------------------------------------------
@pytest.fixture(scope="module")
def digits_snn():
    from spikeforge.convert.normalise import convert
    from spikeforge.datasets import digits
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.models import build_model
    from spikeforge.train import fit

    torch.manual_seed(0)
    train, test = digits("train"), digits("test")
    model, shape = build_model("digits-cnn")
    fit(model, train, epochs=20, lr=1e-2)
    snn = convert(import_torch(model, shape, name="digits-cnn"), train.x[:256], statistic="p99.9")
    return snn, test


def test_8bit_digits_snn_within_one_point_of_float(digits_snn):
    snn, test = digits_snn
    T = 32
    float_acc = simulate(snn, test.x, timesteps=T, labels=test.y).accuracy[T]
    for per_channel in (False, True):
        q = quantize(snn, weight_bits=8, threshold_bits=16, per_channel=per_channel)
        r = simulate_integer(q, test.x, T)
        assert abs(r.accuracy(test.y) - float_acc) <= 0.011, (per_channel, r.accuracy(test.y), float_acc)
        assert r.total_overflows == 0


def test_a_quantised_folder_edited_by_hand_is_refused(tmp_path):
    net = ir.Network((ir.Input("x", (), (2,)), ir.Linear("w", ("x",), np.ones((2, 2), np.float32)),
                      ir.IF("n", ("w",), threshold=np.float32(1))), ("n",))
    folder = save_quantized(quantize(net, calib=np.ones((1, 2), np.float32) * [[0.5, 1.0]]), tmp_path / "q")
    doc = json.loads((folder / "network.json").read_text())
    for key, value, message in (("output_scales", [1.0], "malformed quantisation metadata .*list"),
                                ("output_scales", {"n": -1}, r"output_scales\['n'\]: must be a layer's finite"),
                                ("weight_bits", 99, "weight_bits=99: must be in 2..8")):
        bad = json.loads(json.dumps(doc))
        bad["metadata"][key] = value
        (folder / "network.json").write_text(json.dumps(bad))
        with pytest.raises(QuantizationError, match=message):
            load_quantized(folder)
