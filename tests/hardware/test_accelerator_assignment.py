"""Neuron-to-PE assignments of the accelerator model, and what a network's dynamics cost it."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import (
    ArgumentError,
    InvalidDataError,
    InvalidHardwareSpecError,
    UnknownStrategyError,
)
from spikeforge.hardware.accelerator import (
    ASSIGNMENTS,
    NetworkCosts,
    accelerator_report,
    load_accelerator,
    network_costs,
)
from spikeforge.ir import network as ir
from spikeforge.quantize import LayerTrace, SpikeTrace, record_trace
from spikeforge.quantize.accelerator import accelerate

NIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "nir" / "braille_noDelay_bias_zero.nir"


def trace_of(seed, timesteps, samples, layers, granularity, *, skew=False):
    r = np.random.default_rng(seed)
    out = []
    for i in range(layers):
        units = int(r.integers(1, 40))
        scale = r.pareto(1.0, units) + 1 if skew else np.ones(units)  # a few heavy units
        ops = np.floor(r.integers(0, 200, (timesteps, samples, units)) * scale).astype(np.float32)
        per_unit = np.ones(units, np.int64) if granularity == "neuron" else r.integers(1, 20, units)
        out.append(LayerTrace(f"l{i}", "Conv2d", "spikes", r.integers(0, 50, (timesteps, samples)).astype(float),
                              ops * (r.random(units) < 0.8), per_unit, int(r.integers(10, 1000)), 0))
    return SpikeTrace("random", timesteps, samples, granularity, 16, tuple(out))


def hw_with(distribution, **changes):
    return load_accelerator("pynq-z2-accel").replace(distribution=distribution, **changes)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), active=st.integers(1, 40), name=st.sampled_from(list(ASSIGNMENTS)))
def test_every_assignment_conserves_operations(seed, active, name):
    layer = trace_of(seed, 3, 2, 1, ASSIGNMENTS.get(name).granularity, skew=True).layers[0]
    units = layer.ops.shape[2]
    active = min(active, units)
    work = layer.ops.sum(axis=(0, 1), dtype=np.float64)
    for owner in ASSIGNMENTS.get(name).candidates(work, active):
        assert owner.shape == (units,) and owner.min() >= 0 and owner.max() < active
        for t in range(layer.ops.shape[0]):
            for n in range(layer.ops.shape[1]):
                per_pe = np.bincount(owner, layer.ops[t, n].astype(np.float64), minlength=active)
                assert per_pe.sum() == pytest.approx(float(layer.ops[t, n].sum(dtype=np.float64)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), pes=st.integers(1, 48), timesteps=st.integers(1, 3),
       samples=st.integers(1, 3), layers=st.integers(1, 3), granularity=st.sampled_from(["channel", "neuron"]))
def test_balanced_is_never_slower_than_round_robin(seed, pes, timesteps, samples, layers, granularity):
    trace = trace_of(seed, timesteps, samples, layers, granularity, skew=True)
    roomy = {"pes": pes, "on_chip_memory_kib": 1e6}  # owner tables must not push the weights off chip
    rr = accelerator_report(trace, hw_with(granularity, **roomy))
    lpt = accelerator_report(trace, hw_with(f"balanced-{granularity}", **roomy))
    for a, b in zip(lpt.layers, rr.layers):
        assert a.cycles <= b.cycles and a.ops == b.ops
    assert lpt.cycles_per_inference <= rr.cycles_per_inference
    assert lpt.ops_per_inference == rr.ops_per_inference == pytest.approx(trace.ops / samples)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), pes=st.integers(1, 40), extra=st.integers(1, 30),
       name=st.sampled_from(list(ASSIGNMENTS)))
def test_more_pes_never_slow_a_trace_down(seed, pes, extra, name):
    # with room on chip: more PEs need larger owner tables and more kernel copies (tested below)
    trace = trace_of(seed, 2, 2, 2, ASSIGNMENTS.get(name).granularity, skew=True)
    few = accelerator_report(trace, hw_with(name, pes=pes, on_chip_memory_kib=1e6))
    more = accelerator_report(trace, hw_with(name, pes=pes + extra, on_chip_memory_kib=1e6))
    assert more.cycles_per_inference <= few.cycles_per_inference


def test_lpt_fixes_what_round_robin_gets_wrong():
    # 4 channels of 60, 0, 60, 0 ops on 2 PEs: round-robin puts both heavy ones on PE 0 (or uses one PE)
    ops = np.array([[[60, 0, 60, 0]]], np.float32)
    layer = LayerTrace("l", "Conv2d", "spikes", np.zeros((1, 1)), ops, np.zeros(4, np.int64), 0, 0)
    trace = SpikeTrace("t", 1, 1, "channel", 0, (layer,))
    rr = accelerator_report(trace, hw_with("channel", pes=2, layer_overhead_cycles=0.0))
    lpt = accelerator_report(trace, hw_with("balanced-channel", pes=2, layer_overhead_cycles=0.0))
    assert rr.cycles_per_inference == 20 and lpt.cycles_per_inference == 10  # 120/6 against 60/6
    assert lpt.layers[0].active_pes == 2 and lpt.layers[0].imbalance == 1.0


def narrow_net(seed=0):
    r = np.random.default_rng(seed)
    return ir.Network((
        ir.Input("x", (), (1, 8, 8)),
        ir.Conv2d("c1", ("x",), r.normal(0, 0.6, (2, 1, 3, 3)).astype(np.float32), None, padding=1),
        ir.IF("n1", ("c1",), threshold=np.float32(0.5)),
        ir.Conv2d("c2", ("n1",), r.normal(0, 0.6, (2, 2, 3, 3)).astype(np.float32), None, padding=1),
        ir.IF("n2", ("c2",), threshold=np.float32(0.5))), ("n2",), name="narrow")


def test_splitting_channels_lets_a_narrow_layer_use_every_pe():
    x = np.random.default_rng(1).uniform(0, 1, (3, 1, 8, 8)).astype(np.float32)
    by_channel = accelerate(narrow_net(), x, hw_with("channel", pes=16), 4)
    split = accelerate(narrow_net(), x, hw_with("balanced-neuron", pes=16), 4)
    assert max(layer.active_pes for layer in by_channel.layers) <= 2
    assert split.layers[1].active_pes > 2
    assert split.cycles_per_inference < by_channel.cycles_per_inference
    assert split.ops_per_inference == pytest.approx(by_channel.ops_per_inference)
    # split kernels are copied to every PE holding a neuron of their channel, plus an owner table
    assert split.on_chip_bits_needed > by_channel.on_chip_bits_needed


def test_assignments_pay_for_tables_and_kernel_copies():
    trace = trace_of(3, 2, 2, 2, "channel")
    plain = accelerator_report(trace, hw_with("channel"))
    table = accelerator_report(trace, hw_with("balanced-channel"))
    units = [layer.ops.shape[2] for layer in trace.layers]
    bits = sum(u * max(1, int(np.ceil(np.log2(min(64, u))))) for u in units if min(64, u) > 1)
    assert table.on_chip_bits_needed - plain.on_chip_bits_needed == bits
    # a tiny memory: the copies and tables push weights off chip, and that is charged
    tight = plain.on_chip_bits_needed / 8192
    assert accelerator_report(trace, hw_with("channel", on_chip_memory_kib=tight)).fits_on_chip
    assert not accelerator_report(trace, hw_with("balanced-channel", on_chip_memory_kib=tight)).fits_on_chip


def dynamics_net(neuron, bias=0.0, recurrent=False):
    w = np.full((4, 3), 0.4, np.float32)
    feed = ("fc", "rec") if recurrent else ("fc",)
    nodes = [ir.Input("x", (), (3,)), ir.Linear("fc", ("x",), w)]
    if recurrent:
        nodes += [ir.Delay("d", ("n",), steps=2, shape=(4,)),
                  ir.Linear("rec", ("d",), np.full((4, 4), 0.1, np.float32)), ir.Add("sum", feed)]
    src = "sum" if recurrent else "fc"
    kinds = {"IF": lambda: ir.IF("n", (src,), threshold=np.float32(1)),
             "LIF": lambda: ir.LIF("n", (src,), threshold=np.float32(1), beta=0.9, bias=bias),
             "CubaLIF": lambda: ir.CubaLIF("n", (src,), threshold=np.float32(1), alpha=0.8, beta=0.9, bias=bias)}
    nodes += [kinds[neuron](), ir.Linear("out", ("n",), np.ones((2, 4), np.float32))]
    return ir.Network(tuple(nodes), ("out",), name=f"{neuron}-net")


@pytest.mark.parametrize("neuron, bias, updates", [("IF", 0.0, 1), ("LIF", 0.0, 1), ("LIF", 0.2, 2),
                                                   ("CubaLIF", 0.0, 2), ("CubaLIF", 0.2, 3)])
def test_state_updates_per_neuron(neuron, bias, updates):
    c = network_costs(dynamics_net(neuron, bias))
    assert c.updates == {"fc": updates, "out": 1}  # the read-out accumulates once per step
    assert c.registers == (4 if neuron == "CubaLIF" else 0) and c.delayed_spikes == 0


def test_a_recurrent_loop_updates_its_neurons_once_and_buffers_its_delay():
    c = network_costs(dynamics_net("CubaLIF", recurrent=True))
    assert c.updates == {"fc": 0, "rec": 2, "out": 1}
    assert c.delayed_spikes == 2 * 4 and c.delayed_values == 0 and c.channels == {"fc": 4, "rec": 4, "out": 2}


def test_dynamics_cost_cycles_and_memory_on_a_float_snn():
    x = np.random.default_rng(0).uniform(0, 2, (3, 3)).astype(np.float32)
    hw = hw_with("channel", neuron_updates_per_cycle_per_pe=1.0, layer_overhead_cycles=0.0, pes=1,
                 event_dispatch_cycles=0.0)  # compute alone sets each layer time: the updates add up
    net = dynamics_net("CubaLIF", bias=0.2, recurrent=True)
    trace = record_trace(net, x, 6)
    assert {layer.name for layer in trace.layers} == {"fc", "rec", "out"}
    rec = next(layer for layer in trace.layers if layer.name == "rec")
    assert rec.events.sum() > 0  # the loop's delayed spikes are events like any others
    charged = accelerator_report(trace, hw, costs=network_costs(net))
    plain = accelerator_report(trace, hw)
    # per step: fc 0 updates (charged to rec), rec 3 × 4 neurons, out 1 × 2, against 4 + 4 + 2 without costs
    assert charged.cycles_per_inference - plain.cycles_per_inference == pytest.approx(6 * ((0 + 12 + 2) - (4 + 4 + 2)))
    extra_bits = 4 * hw.membrane_bits + 8  # the CubaLIF current registers and the 2-step delay of 4 spikes
    assert charged.on_chip_bits_needed - plain.on_chip_bits_needed == extra_bits
    assert accelerate(net, x, hw, 6).cycles_per_inference == charged.cycles_per_inference


@pytest.mark.skipif(not NIR.exists(), reason=f"{NIR} not found (../shared/data/nir beside the repo)")
@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_braille_recurrent_cubalif_network_on_every_assignment(name):
    from spikeforge.frontends.nir import read_nir

    net = read_nir(NIR)
    x = np.random.default_rng(0).integers(0, 2, (3, 8, 12)).astype(np.float32)
    r = accelerate(net, x, hw_with(name), 8)
    assert {layer.name for layer in r.layers} >= {"lif1.w_rec", "fc1", "fc2"}
    assert network_costs(net).updates["lif1.w_rec"] + network_costs(net).updates["fc1"] >= 2  # CubaLIF
    assert 0 < r.effective_gops <= r.peak_gops


def test_errors():
    with pytest.raises(InvalidHardwareSpecError, match=r"distribution = 'diagonal': must be one of channel, neuron, "
                                                       r"balanced-channel, balanced-neuron"):
        hw_with("diagonal")
    trace = trace_of(0, 1, 1, 1, "channel")
    with pytest.raises(InvalidDataError, match=r"recorded per channel, but distribution 'balanced-neuron' assigns "
                                               r"neurons"):
        accelerator_report(trace, hw_with("balanced-neuron"))
    with pytest.raises(ArgumentError, match="parameter 'net' must be Network, got dict"):
        network_costs({})
    with pytest.raises(UnknownStrategyError, match="unknown assignment 'lpt'; known: channel"):
        ASSIGNMENTS.get("lpt")
    assert dataclasses.replace(NetworkCosts(), registers=1).registers == 1
