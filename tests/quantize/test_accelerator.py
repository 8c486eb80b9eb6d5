"""Accelerator model: preset figures, invariants on real spike traces, monotonicity, errors."""

import dataclasses
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import (
    InvalidDataError,
    InvalidHardwareSpecError,
    NotConvertedError,
    QuantizationError,
    SimulationError,
)
from spikeforge.hardware import list_presets
from spikeforge.hardware.accelerator import (
    accelerator_report,
    list_accelerator_presets,
    load_accelerator,
)
from spikeforge.ir import network as ir
from spikeforge.quantize import LayerTrace, SpikeTrace, quantize, record_trace
from spikeforge.quantize.accelerator import accelerate
from spikeforge.sim.simulator import simulate


def small_snn(seed=0):
    r = np.random.default_rng(seed)
    return ir.Network((
        ir.Input("x", (), (1, 8, 8)),
        ir.Conv2d("c1", ("x",), r.normal(0, 0.5, (6, 1, 3, 3)).astype(np.float32), None, padding=1),
        ir.IF("n1", ("c1",), threshold=np.float32(0.8)),
        ir.AvgPool2d("pool", ("n1",), kernel=2),
        ir.Conv2d("c2", ("pool",), r.normal(0, 0.5, (4, 6, 3, 3)).astype(np.float32), None, padding=1),
        ir.IF("n2", ("c2",), threshold=np.float32(0.5)),
        ir.Flatten("flat", ("n2",)),
        ir.Linear("fc", ("flat",), r.normal(0, 0.3, (3, 64)).astype(np.float32)),
        ir.IF("n3", ("fc",), threshold=np.float32(0.5)),
        ir.Linear("out", ("n3",), r.normal(0, 0.3, (2, 3)).astype(np.float32))), ("out",), name="small")


@pytest.fixture
def data():
    return np.random.default_rng(1).uniform(0, 1, (6, 1, 8, 8)).astype(np.float32)


def test_preset_reproduces_the_papers_peak_figures():
    hw = load_accelerator("pynq-z2-accel")
    assert hw.pes == 64 and hw.peak_gops == pytest.approx(38.4)
    assert hw.peak_gops / hw.pes == pytest.approx(0.6)
    assert hw.peak_gops / hw.dsp_slices == pytest.approx(2.25, abs=0.02)  # 17 DSPs: 38.4 / 2.25 = 17.07
    assert hw.reference.gops == 38.4 and hw.power_w == 1.54
    assert "pynq-z2-accel" in list_accelerator_presets() and "pynq-z2-accel" not in list_presets()


def test_ops_equal_the_profiles_synaptic_operations(data):
    q = quantize(small_snn())
    T = 5
    done = []
    report = accelerate(q, data, "pynq-z2-accel", T, batch_size=3, on_batch=done.append)
    assert done == [*range(3, len(data), 3), len(data)]  # progress after every batch, the last one short
    profile = simulate(q.network, q.quantize_input(data), timesteps=T, integer=True).profile
    # The read-out layer "out" reads spikes, so every layer is counted per timestep in both.
    synops = sum(layer.synops for layer in profile.layers)
    assert report.ops_per_inference * len(data) == pytest.approx(synops, rel=0, abs=0.5)
    for layer in report.layers:
        assert layer.ops * len(data) == pytest.approx(profile.layer(layer.name).synops, abs=0.5)
    assert report.layers[0].input_kind == "analog" and report.layers[1].input_kind == "spikes"


def test_float_snn_trace_matches_float_profile(data):
    snn = small_snn()
    trace = record_trace(snn, data, 4)
    profile = simulate(snn, data, timesteps=4).profile
    for layer in trace.layers:
        assert layer.ops.sum() == pytest.approx(profile.layer(layer.name).synops, abs=0.5)


def test_effective_gops_is_at_most_peak_and_figures_are_consistent(data):
    r = accelerate(quantize(small_snn()), data, "pynq-z2-accel", 4)
    assert 0 < r.effective_gops <= r.peak_gops
    assert r.utilisation == pytest.approx(r.effective_gops / r.peak_gops)
    assert r.gops_per_pe == pytest.approx(r.effective_gops / 64)
    assert r.gops_per_dsp == pytest.approx(r.effective_gops / 17)
    assert r.gops_per_w == pytest.approx(r.effective_gops / 1.54)
    assert r.latency_s == pytest.approx(r.cycles_per_inference / 100e6)
    assert r.energy_per_inference_j == pytest.approx(1.54 * r.latency_s)
    assert r.effective_gops == pytest.approx(r.ops_per_inference / r.latency_s / 1e9)
    assert r.worst_cycles >= r.cycles_per_inference
    assert all(1 <= layer.active_pes <= 64 for layer in r.layers)
    assert r.fits_on_chip
    rows = {k: (v, p) for k, v, p in r.rows()}
    assert rows["peak GOPS"] == ("38.40", "38.4") and rows["GOPS / PE"][1] == "0.60"


def test_streaming_weights_when_memory_is_too_small(data):
    q = quantize(small_snn())
    hw = load_accelerator("pynq-z2-accel")
    fast = accelerate(q, data, hw, 4)
    slow = accelerate(q, data, hw.replace(on_chip_memory_kib=0.0, off_chip_bandwidth_gb_s=0.01), 4)
    assert not slow.fits_on_chip and slow.cycles_per_inference > fast.cycles_per_inference
    assert any(layer.bound == "memory" for layer in slow.layers)


def random_trace(seed, timesteps, samples, layers, granularity="channel"):
    r = np.random.default_rng(seed)
    out = []
    for i in range(layers):
        units = int(r.integers(1, 40))
        ops = r.integers(0, 200, (timesteps, samples, units)).astype(np.float32) * (r.random(units) < 0.7)
        out.append(LayerTrace(f"l{i}", "Conv2d", "spikes", r.integers(0, 50, (timesteps, samples)).astype(float),
                              ops, r.integers(1, 20, units), int(r.integers(10, 1000)), 0))
    return SpikeTrace("random", timesteps, samples, granularity, 16, tuple(out))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), pes=st.integers(1, 48), extra=st.integers(1, 40),
       timesteps=st.integers(1, 4), samples=st.integers(1, 3), layers=st.integers(1, 3),
       neuron=st.booleans())
def test_more_pes_are_never_slower(seed, pes, extra, timesteps, samples, layers, neuron):
    trace = random_trace(seed, timesteps, samples, layers, "neuron" if neuron else "channel")
    hw = load_accelerator("pynq-z2-accel").replace(distribution="neuron" if neuron else "channel")
    few = accelerator_report(trace, hw.replace(pes=pes))
    more = accelerator_report(trace, hw.replace(pes=pes + extra))
    assert more.cycles_per_inference <= few.cycles_per_inference
    assert few.ops_per_inference == more.ops_per_inference == pytest.approx(trace.ops / samples)
    assert few.effective_gops <= few.peak_gops * (1 + 1e-12)


def test_busiest_pe_sets_the_layer_time():
    # one layer, 4 channels with 60, 0, 0, 0 ops: 2 PEs cannot beat 1 (imbalance 2), 60/6 = 10 cycles
    ops = np.array([[[60, 0, 0, 0]]], np.float32)
    trace = SpikeTrace("t", 1, 1, "channel", 0, (LayerTrace("l", "Conv2d", "spikes", np.zeros((1, 1)), ops,
                                                              np.zeros(4, np.int64), 0, 0),))
    hw = load_accelerator("pynq-z2-accel").replace(layer_overhead_cycles=0.0)
    r = accelerator_report(trace, hw)
    assert r.cycles_per_inference == 10 and r.layers[0].active_pes == 1 and r.layers[0].imbalance == 1.0
    balanced = dataclasses.replace(trace.layers[0], ops=np.array([[[15, 15, 15, 15]]], np.float32))
    r = accelerator_report(dataclasses.replace(trace, layers=(balanced,)), hw)
    assert r.cycles_per_inference == 3 and r.layers[0].active_pes == 4  # ceil(15/6)


@pytest.mark.parametrize("change, match", [
    ({"pes": 0}, r"pes = 0: must be ≥ 1"),
    ({"pes": -3}, r"pes = -3: must be ≥ 1"),
    ({"clock_mhz": 0.0}, r"clock_mhz = 0\.0: must be > 0"),
    ({"clock_mhz": float("nan")}, r"clock_mhz = nan"),
    ({"ops_per_cycle_per_pe": -1.0}, r"ops_per_cycle_per_pe = -1\.0: must be > 0"),
    ({"distribution": "diagonal"}, r"distribution = 'diagonal'"),
    ({"turbo": True}, r"turbo = True: Extra inputs"),
])
def test_bad_specs(change, match):
    with pytest.raises(InvalidHardwareSpecError, match=match):
        load_accelerator("pynq-z2-accel").replace(**change)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(InvalidHardwareSpecError, match="no-such-accel: unknown accelerator"):
        load_accelerator("no-such-accel")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\npes = = 3\n")
    with pytest.raises(InvalidHardwareSpecError, match="not a valid TOML"):
        load_accelerator(bad)
    bad.write_text("name = 'x'\npes = 4\n")
    with pytest.raises(InvalidHardwareSpecError, match="clock_mhz missing"):
        load_accelerator(bad)
    preset = resources.files("spikeforge.hardware") / "presets" / "accelerators" / "pynq-z2-accel.toml"
    bad.write_text(preset.read_text().replace("clock_mhz = 100.0", "clock_mhz = -100.0", 1))
    with pytest.raises(InvalidHardwareSpecError, match=r"bad.toml: accelerator pynq-z2-accel: clock_mhz = -100"):
        load_accelerator(bad)


def test_mismatched_data_and_networks(data):
    q = quantize(small_snn())
    with pytest.raises(InvalidDataError, match=r"shape \(6, 1, 4, 4\) does not match network input \(N, 1, 8, 8\)"):
        accelerate(q, data[:, :, :4, :4], "pynq-z2-accel", 4)
    with pytest.raises(SimulationError, match="timesteps=0"):
        accelerate(q, data, "pynq-z2-accel", 0)
    ann = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.ones((2, 2), np.float32))), ("fc",))
    with pytest.raises(NotConvertedError, match="integer simulation: network network has no spiking neurons"):
        accelerate(ann, np.ones((1, 2)), "pynq-z2-accel", 4)
    trace = record_trace(q, data, 2)
    broken = dataclasses.replace(trace, samples=7)
    with pytest.raises(InvalidDataError, match=r"do not match 2 timesteps × 7 samples"):
        accelerator_report(broken, "pynq-z2-accel")


@pytest.mark.parametrize("granularity", ["channel", "neuron"])
def test_integer_run_records_the_same_trace_as_record_trace(data, granularity):
    """simulate_integer(trace=...) gives accuracy and activity in one run; the activity is
    record_trace's, array for array."""
    from spikeforge.quantize import simulate_integer

    q = quantize(small_snn())
    alone = record_trace(q, data, 5, granularity=granularity, batch_size=4)
    run = simulate_integer(q, data, 5, batch_size=3, trace=granularity)
    assert [layer.name for layer in run.trace.layers] == [layer.name for layer in alone.layers]
    for a, b in zip(run.trace.layers, alone.layers):
        assert np.array_equal(a.ops, b.ops) and np.array_equal(a.events, b.events) and a.input_kind == b.input_kind
    assert simulate_integer(q, data, 5).trace is None
    with pytest.raises(QuantizationError, match="granularity='layer': use 'channel' or 'neuron'"):
        simulate_integer(q, data, 5, trace="layer")
