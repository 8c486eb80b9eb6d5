"""NIR in and out (spikeforge.frontends.nir): the NIR paper's graphs, hand-built graphs of every
supported node, round trips, and refused input (one line each, before allocating)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_trains import layer_trains

from spikeforge.errors import (
    ArgumentError,
    InputPathError,
    InvalidNetworkError,
    ModelFileError,
    ResourceError,
    ShapeError,
    UnsupportedLayerError,
)
from spikeforge.frontends.nir import (
    NIRExportWarning,
    from_nir,
    read_nir,
    to_nir,
    write_nir,
)
from spikeforge.ir import network as ir
from spikeforge.sim import simulator

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nir"
paper = pytest.mark.skipif(not DATA.is_dir(), reason="the NIR paper's graphs (shared/data/nir) are not here")


def random_spikes(net: ir.Network, n: int = 3, t: int = 25, p: float = 0.3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, t, *net.input.shape)) < p).astype(np.float32)


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def lif(n: int, tau: float = 2e-3, **kw) -> nir.LIF:
    params = {"tau": np.full(n, tau), "r": np.ones(n), "v_leak": np.zeros(n), "v_threshold": np.full(n, 0.05),
                  "v_reset": np.zeros(n)}
    params.update(kw)
    return nir.LIF(**params)


def io(n_in, n_out):
    return {"input": nir.Input(input_type={"input": np.array(n_in)}),
            "output": nir.Output(output_type={"output": np.array(n_out)})}


# -- the NIR paper's graphs ------------------------------------------------------------------------

@paper
def test_lif_neuron_spike_times_equal_the_exact_solution():
    exact = np.loadtxt(DATA / "lif_exact.csv", delimiter=",")
    net = read_nir(DATA / "lif_norse.nir")
    (lif_layer,) = [n for n in net.nodes if isinstance(n, ir.LIF)]
    assert lif_layer.beta == pytest.approx(1 - 1e-4 / 2.5e-3)
    out = layer_trains(net, exact[None, :, :1])[lif_layer.name][:, 0, 0]
    ours, theirs = np.nonzero(out)[0], np.nonzero(exact[:, 2])[0]
    assert len(ours) == len(theirs) > 0
    assert np.abs(ours - theirs).max() <= 1


@paper
@pytest.mark.parametrize("file, kinds", [
    ("cnn_sinabs.nir", {"Conv2d": 3, "IF": 5, "AvgPool2d": 2, "Linear": 2, "Flatten": 1}),
    ("braille_noDelay_bias_zero.nir", {"CubaLIF": 2, "Delay": 1, "Add": 1, "Linear": 3}),
])
def test_paper_graphs_load_and_run_on_spike_trains(file, kinds):
    net = read_nir(DATA / file)
    counts = {k: sum(type(n).__name__ == k for n in net.nodes) for k in kinds}
    assert counts == kinds
    assert net.input.temporal
    x = random_spikes(net)
    result = simulator.simulate(net, x, timesteps=x.shape[1])
    (out,) = result.outputs.values()
    assert out.shape == (3, *net.shape(net.outputs[0])) and np.isfinite(out).all()
    assert result.profile.spikes_per_sample > 0


@paper
def test_braille_recurrence_is_a_one_step_delay_of_the_spikes():
    net = read_nir(DATA / "braille_noDelay_bias_zero.nir")
    (delay,) = [n for n in net.nodes if isinstance(n, ir.Delay)]
    assert delay.steps == 1 and delay.inputs == ("lif1.lif",)  # the delay sits on the spikes
    cuba = net.node("lif1.lif")
    assert (cuba.alpha, cuba.beta) == (pytest.approx(0.55), pytest.approx(0.9))  # the training json's


@paper
def test_sinabs_cnn_reset_policy_is_explicit():
    nir_reset = read_nir(DATA / "cnn_sinabs.nir")
    subtract = read_nir(DATA / "cnn_sinabs.nir", reset="subtract")
    assert {n.v_reset for n in nir_reset.nodes if n.is_neuron} == {0.0}
    assert {n.v_reset for n in subtract.nodes if n.is_neuron} == {None}
    # SumPool2d's k² folded into the next weights: the pooled layer reads 4× the average
    raw = nir.read(DATA / "cnn_sinabs.nir")
    np.testing.assert_allclose(subtract.node("5").weight, raw.nodes["5"].weight * 4, rtol=1e-6)


@paper
@pytest.mark.parametrize("file", ["lif_norse.nir", "cnn_sinabs.nir", "braille_noDelay_bias_zero.nir"])
def test_paper_graphs_round_trip_through_write_nir(tmp_path, file):
    net = read_nir(DATA / file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NIR's reset to 0 and a zero start: nothing to warn about
        path = write_nir(net, tmp_path / file)
    back = read_nir(path)
    x = random_spikes(net, seed=1)
    a, b = layer_trains(net, x), layer_trains(back, x)
    for n in (m for m in net.nodes if m.is_neuron):
        assert np.array_equal(a[n.name], b[n.name]), n.name


# -- hand-built graphs -----------------------------------------------------------------------------

def test_lif_discretisation_is_forward_euler():
    dt, tau, r, leak = 1e-4, 1e-3, 2.0, 0.5
    g = graph({**io(2, 2), "fc": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
               "lif": lif(2, tau, r=np.full(2, r), v_leak=np.full(2, leak), v_threshold=np.full(2, 1.0))},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = from_nir(g, dt=dt)
    layer = net.node("lif")
    assert layer.beta == pytest.approx(1 - dt / tau)
    assert float(layer.bias) == pytest.approx(dt / tau * leak)
    np.testing.assert_allclose(net.node("fc").weight, np.eye(2) * dt * r / tau, rtol=1e-6)


def test_cuba_lif_input_gain_and_bias():
    dt, ts, tm, w_in, r, leak = 1e-4, 4e-4, 1e-3, 3.0, 5.0, 0.2
    n = 3
    g = graph({**io(n, n), "fc": nir.Linear(weight=np.eye(n)),
               "c": nir.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.full(n, r),
                                v_leak=np.full(n, leak), v_threshold=np.ones(n), v_reset=np.zeros(n),
                                w_in=np.full(n, w_in))},
              [("input", "fc"), ("fc", "c"), ("c", "output")])
    net = from_nir(g, dt=dt)
    c = net.node("c")
    assert (c.alpha, c.beta) == (pytest.approx(1 - dt / ts), pytest.approx(1 - dt / tm))
    assert float(c.bias) == pytest.approx(dt / tm * leak)
    np.testing.assert_allclose(net.node("fc").weight, np.eye(n) * (dt * w_in / ts) * (dt * r / tm), rtol=1e-6)


def test_recurrence_without_delay_and_summed_edges():
    n = 4
    rng = np.random.default_rng(0)
    g = graph({**io(n, n), "a": nir.Affine(weight=rng.normal(size=(n, n)), bias=np.zeros(n)),
               "b": nir.Linear(weight=rng.normal(size=(n, n))), "rec": nir.Linear(weight=rng.normal(size=(n, n))),
               "lif": lif(n)},
              [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "rec"), ("rec", "lif"),
               ("lif", "output")])
    net = from_nir(g)
    (add,) = [m for m in net.nodes if isinstance(m, ir.Add)]
    (delay,) = [m for m in net.nodes if isinstance(m, ir.Delay)]
    assert len(add.inputs) == 3 and delay.inputs == ("lif",) and delay.steps == 1
    assert net.node("rec").inputs == (delay.name,)
    spikes = layer_trains(net, random_spikes(net, t=30, p=0.8))["lif"]
    assert spikes.sum() > 0


def test_nested_subgraph_conv1d_scale_sumpool_and_delay():
    c, length = 2, 8
    conv = nir.Conv1d(input_shape=length, weight=np.ones((3, c, 3)), stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(3))
    sub = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3, length])}),
                              "scale": nir.Scale(scale=np.array([1.0, 2.0, 3.0])),
                              "out": nir.Output(output_type={"output": np.array([3, length])})},
                       edges=[("in", "scale"), ("scale", "out")], type_check=False)
    g = graph({**io([c, length], 3 * length), "conv": conv, "sub": sub,
               "if": nir.IF(r=np.ones((3, length)), v_threshold=np.ones((3, length)), v_reset=np.zeros((3, length))),
               "delay": nir.Delay(delay=np.full((3, length), 2e-4)),
               "flat": nir.Flatten(input_type={"input": np.array([3, length])}, start_dim=0, end_dim=-1)},
              [("input", "conv"), ("conv", "sub"), ("sub", "if"), ("if", "delay"), ("delay", "flat"),
               ("flat", "output")])
    net = from_nir(g, dt=1e-4)
    assert net.input.shape == (c, 1, length)
    assert net.node("conv").weight.shape == (3, c, 1, 3)
    np.testing.assert_allclose(net.node("conv").weight[:, 0, 0, 0], [1.0, 2.0, 3.0])  # Scale folded
    assert net.node("delay").steps == 2 and net.shape("flat") == (3 * length,)
    x = random_spikes(net, t=10, p=0.5)
    out = layer_trains(net, x)
    assert np.array_equal(out["delay"][2:], out["if"][:-2]) and not out["delay"][:2].any()


def test_nir_delay_closing_a_loop():
    n = 3
    g = graph({**io(n, n), "fc": nir.Linear(weight=np.eye(n)), "lif": lif(n, v_threshold=np.full(n, 0.5)),
               "rec": nir.Linear(weight=np.eye(n) * 0.1), "d": nir.Delay(delay=np.full(n, 3e-4))},
              [("input", "fc"), ("fc", "lif"), ("lif", "d"), ("d", "rec"), ("rec", "lif"), ("lif", "output")])
    net = from_nir(g)
    assert net.node("d").steps == 3 and net.node("d").inputs == ("lif",)
    assert not any(isinstance(m, ir.Delay) and m.name != "d" for m in net.nodes)  # no second delay inserted
    assert layer_trains(net, random_spikes(net, t=15, p=0.9))["lif"].sum() > 0


def test_graph_structure_errors():
    two_inputs = graph({**io(2, 2), "in2": nir.Input(input_type={"input": np.array([2])}), "lif": lif(2)},
                       [("input", "lif"), ("in2", "lif"), ("lif", "output")])
    with pytest.raises(UnsupportedLayerError, match=r"NIR graph: 2 Input nodes \(input, in2\)"):
        from_nir(two_inputs)
    dangling = graph({**io(2, 2), "lif": lif(2), "orphan": lif(2)}, [("input", "lif"), ("lif", "output")])
    with pytest.raises(InvalidNetworkError, match=r"NIR node 'orphan' \(LIF\): no incoming edge"):
        from_nir(dangling)
    bad_edge = graph({**io(2, 2), "lif": lif(2)}, [("input", "lif"), ("lif", "nowhere"), ("lif", "output")])
    with pytest.raises(InvalidNetworkError, match=r"edge to 'nowhere': no such node"):
        from_nir(bad_edge)
    partial = graph({**io([2, 4, 4], 32), "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=1,
                                                              end_dim=-1),
                     "lif": lif(32)}, [("input", "flat"), ("flat", "lif"), ("lif", "output")])
    partial.nodes["flat"].output_type = {"output": np.array([2, 16])}
    with pytest.raises(UnsupportedLayerError, match=r"'flat' \(Flatten\): flattens dimensions 1..-1 of \(2, 4, 4\)"):
        from_nir(partial)
    with pytest.raises(ModelFileError, match=r"a dict, not a nir.NIRGraph"):
        from_nir({})


def test_sum_pool_without_weights_after_it_is_a_conv_of_ones():
    g = graph({**io([2, 4, 4], [2, 2, 2]), "pool": nir.SumPool2d(kernel_size=np.array([2, 2]),
                                                                 stride=np.array([2, 2]), padding=np.array([0, 0])),
               "if": nir.IF(r=np.ones((2, 2, 2)), v_threshold=np.full((2, 2, 2), 3.5), v_reset=np.zeros((2, 2, 2)))},
              [("input", "pool"), ("pool", "if"), ("if", "output")])
    net = from_nir(g, dt=None)
    pool = net.node("pool")
    assert isinstance(pool, ir.Conv2d) and pool.groups == 2 and (pool.weight == 1).all()
    x = np.ones((1, 1, 2, 4, 4), np.float32)
    assert layer_trains(net, x)["if"].all()  # a sum of 4 ones reaches 3.5, an average would not


def test_scale_on_a_sum_becomes_add_gains():
    n = 3
    g = graph({**io(n, n), "s": nir.Scale(scale=np.array([1.0, 2.0, 3.0])), "lif": lif(n)},
              [("input", "s"), ("s", "lif"), ("input", "lif"), ("lif", "output")])
    net = from_nir(g)
    (add,) = [m for m in net.nodes if isinstance(m, ir.Add)]
    assert add.gains is not None and all(gain is not None for gain in add.gains)


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(0.05, 0.99), alpha=st.floats(0.05, 0.99), bias=st.floats(-0.5, 0.5),
       theta=st.floats(0.1, 4.0), reset=st.sampled_from([0.0, 0.25]))
def test_write_then_read_gives_the_same_neurons(tmp_path_factory, beta, alpha, bias, theta, reset):
    w = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    net = ir.Network((ir.Input("x", (), (2,), temporal=True), ir.Linear("fc", ("x",), w, None),
                      ir.CubaLIF("c", ("fc",), threshold=np.float32(theta), v_init=0.0, v_reset=reset,
                                 alpha=alpha, beta=beta, bias=np.float32(bias))), outputs=("c",))
    back = from_nir(to_nir(net, dt=1e-3), dt=1e-3)
    c = back.node("c")
    assert (c.alpha, c.beta, c.v_reset) == (pytest.approx(alpha, rel=1e-5), pytest.approx(beta, rel=1e-5),
                                            pytest.approx(reset, abs=1e-6))
    assert float(c.bias) == pytest.approx(bias, abs=1e-5) and float(c.threshold) == pytest.approx(theta)
    np.testing.assert_allclose(back.node("fc").weight, w, rtol=1e-4, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(0.05, 1.0), alpha=st.floats(0.05, 0.99), bias=st.floats(-0.5, 0.5), cuba=st.booleans())
def test_write_then_read_gives_the_same_readout(beta, alpha, bias, cuba):
    if beta == 1.0 and not cuba:
        bias = 0.0  # an integrator (NIR I) has no leak to carry a bias
    w = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    ro = ir.CubaLI("ro", ("fc",), alpha=alpha, beta=min(beta, 0.99), bias=np.float32(bias)) if cuba else \
        ir.LI("ro", ("fc",), beta=beta, bias=np.float32(bias))
    net = ir.Network((ir.Input("x", (), (2,), temporal=True), ir.Linear("fc", ("x",), w, None), ro), outputs=("ro",))
    read = from_nir(to_nir(net, dt=1e-3), dt=1e-3)
    np.testing.assert_allclose(read.node("fc").weight, w, rtol=1e-4, atol=1e-6)  # the input gain is 1
    back = read.node("ro")
    assert type(back) is type(ro) and back.beta == pytest.approx(ro.beta, rel=1e-5)
    assert float(back.bias) == pytest.approx(bias, abs=1e-5)
    if cuba:
        assert back.alpha == pytest.approx(alpha, rel=1e-5)


def test_export_warns_where_nir_cannot_say_what_spikeforge_computes(tmp_path):
    net = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.eye(2, dtype=np.float32), None),
                      ir.IF("if", ("fc",), threshold=np.float32(1.0), v_init=0.5)), outputs=("if",))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        write_nir(net, tmp_path / "a.nir")
    messages = sorted(str(w.message) for w in record if w.category is NIRExportWarning)
    assert len(messages) == 2
    assert "initial potential 0.5·θ is not part of NIR" in messages[0]
    assert "spikeforge resets by subtraction" in messages[1]
    assert read_nir(tmp_path / "a.nir", reset="subtract").node("if").v_reset is None


def test_export_refuses_layers_nir_has_no_node_for(tmp_path):
    net = ir.Network((ir.Input("x", (), (1, 4, 4)), ir.MaxPool2d("mp", ("x",)),
                      ir.IF("if", ("mp",), threshold=np.float32(1.0), v_reset=0.0)), outputs=("if",))
    with pytest.raises(UnsupportedLayerError, match=r"layer mp \(MaxPool2d\): NIR has no node"):
        write_nir(net, tmp_path / "a.nir")
    assert not (tmp_path / "a.nir").exists()


# -- refused input -------------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Gate(nir.NIRNode):
    """A node type of some exporter's own (every node type of nir 1.0.8 is read)."""

    gain: np.ndarray = None

    def __post_init__(self):
        self.input_type, self.output_type = {"input": np.array([2])}, {"output": np.array([2])}


def test_unsupported_node_names_the_node_and_its_type():
    g = graph({**io(2, 2), "gate": Gate(gain=np.ones(2))}, [("input", "gate"), ("gate", "output")])
    with pytest.raises(UnsupportedLayerError, match=r"NIR node 'gate': type Gate is not supported"):
        from_nir(g)


def readout_graph(node) -> nir.NIRGraph:
    return graph({**io(2, 2), "fc": nir.Affine(weight=np.eye(2), bias=np.zeros(2)), "ro": node},
                 [("input", "fc"), ("fc", "ro"), ("ro", "output")])


@pytest.mark.parametrize("node, dt, error, match", [
    (nir.LI(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2)), None, InvalidNetworkError,
     r"NIR graph: node 'ro' \(LI\) has time constants in seconds; give dt"),
    (nir.LI(tau=np.array([1e-3, 5e-5]), r=np.ones(2), v_leak=np.zeros(2)), 1e-4, InvalidNetworkError,
     r"NIR node 'ro' \(LI\)\.tau: dt = 0\.0001 s is not below the time constant 5e-05 s"),
    (nir.CubaLI(tau_syn=np.full(2, -1e-3), tau_mem=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2),
                w_in=np.ones(2)), 1e-4, InvalidNetworkError,
     r"NIR node 'ro' \(CubaLI\)\.tau_syn: time constant -0\.001 s must be > 0"),
    (nir.CubaLI(tau_syn=np.full(2, 1e-3), tau_mem=np.full(2, 1e-3), r=np.ones(2), v_leak=np.array([0, np.nan]),
                w_in=np.ones(2)), 1e-4, InvalidNetworkError,
     r"NIR node 'ro' \(CubaLI\)\.v_leak: 1 of 2 values are NaN or Inf"),
    (nir.I(r=np.array([1.0, np.inf])), None, InvalidNetworkError, r"NIR node 'ro' \(I\)\.r: 1 of 2 values are NaN"),
    (nir.Threshold(threshold=np.array([0.5, -1.0])), None, InvalidNetworkError,
     r"NIR node 'ro' \(Threshold\)\.threshold: -1 must be > 0"),
])
def test_hostile_readouts_and_thresholds_are_refused_in_one_line(node, dt, error, match):
    with pytest.raises(error, match=match) as info:
        from_nir(readout_graph(node), dt=dt)
    assert "\n" not in str(info.value)


def test_export_refuses_a_readout_without_decay_but_with_a_bias(tmp_path):
    net = ir.Network((ir.Input("x", (), (2,)), ir.LI("li", ("x",), beta=1.0, bias=np.float32(0.5))), outputs=("li",))
    with pytest.raises(UnsupportedLayerError, match=r"layer li \(LI\): beta = 1 \(no decay\) has no finite NIR"):
        write_nir(net, tmp_path / "a.nir")
    assert not (tmp_path / "a.nir").exists()


def test_readouts_and_thresholds_are_written_as_their_nir_nodes():
    net = from_nir(graph({**io(3, 3), "fc": nir.Linear(weight=np.eye(3)), "t": nir.Threshold(threshold=np.full(3, 0.5)),
                          "fc2": nir.Linear(weight=np.eye(3)), "ro": nir.I(r=np.full(3, 2.0))},
                         [("input", "fc"), ("fc", "t"), ("t", "fc2"), ("fc2", "ro"), ("ro", "output")]), dt=None)
    assert isinstance(net.node("t"), ir.Threshold) and isinstance(net.node("ro"), ir.LI)
    np.testing.assert_allclose(net.node("fc2").weight, np.eye(3) * 2.0)  # I's R folded into the weights
    written = to_nir(net)
    assert type(written.nodes["t"]).__name__ == "Threshold" and type(written.nodes["ro"]).__name__ == "I"


def test_non_finite_parameters_are_refused():
    g = graph({**io(2, 2), "fc": nir.Affine(weight=np.array([[1.0, np.nan], [0, 1]]), bias=np.zeros(2)),
               "lif": lif(2)}, [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with pytest.raises(InvalidNetworkError, match=r"'fc' \(Affine\)\.weight: 1 of 4 values are NaN or Inf"):
        from_nir(g)


def test_missing_dt_where_time_constants_need_it():
    g = graph({**io(2, 2), "lif": lif(2)}, [("input", "lif"), ("lif", "output")])
    with pytest.raises(InvalidNetworkError, match=r"'lif' \(LIF\) has time constants in seconds; give dt"):
        from_nir(g, dt=None)
    with pytest.raises(InvalidNetworkError, match=r"dt = 0.01 s is not below the time constant 0.002 s"):
        from_nir(g, dt=1e-2)
    with pytest.raises(ArgumentError, match=r"dt = -1.0: must be a finite number of seconds > 0"):
        from_nir(g, dt=-1.0)


def test_inconsistent_and_missing_shapes():
    g = graph({**io(3, 2), "fc": nir.Affine(weight=np.ones((2, 4)), bias=np.zeros(2)), "lif": lif(2)},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with pytest.raises(ShapeError, match=r"layer fc \(Linear\): weight \(2, 4\) does not take 3 inputs"):
        from_nir(g)
    g = graph({"input": nir.Input(input_type={"input": np.array([])}), "lif": lif(2),
               "output": nir.Output(output_type={"output": np.array([2])})}, [("input", "lif"), ("lif", "output")])
    with pytest.raises(ShapeError, match=r"'input' \(Input\): no input shape declared"):
        from_nir(g)
    bad = lif(2)
    bad.v_threshold = np.ones(3)  # the nir package checks this at construction; a file need not
    g = graph({**io(2, 2), "lif": bad}, [("input", "lif"), ("lif", "output")])
    with pytest.raises(ShapeError, match=r"v_threshold: shape \(3,\) fits neither the layer's shape \(2,\)"):
        from_nir(g)


def test_reset_fractions_that_vary_within_a_layer_are_refused():
    node = lif(2)
    node.v_reset = np.array([0.0, 0.05])
    g = graph({**io(2, 2), "lif": node}, [("input", "lif"), ("lif", "output")])
    with pytest.raises(UnsupportedLayerError, match=r"'lif' \(LIF\)\.v_reset / v_threshold: values from 0 to"):
        from_nir(g)


def hostile(path: Path, fill) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.4")
        node = f.create_group("node")
        node.create_dataset("type", data=b"NIRGraph")
        fill(node)
    return path


def test_huge_declared_shape_is_refused_before_reading(tmp_path):
    def fill(node):  # a chunked dataset declaring 2**44 floats, stored in a few bytes
        node.create_dataset("weight", shape=(1 << 22, 1 << 22), dtype="f4", chunks=(1, 1024))

    path = hostile(tmp_path / "huge.nir", fill)
    assert path.stat().st_size < 100_000
    with pytest.raises(ResourceError, match=r"huge\.nir: NIR datasets of [\d,]+ bytes: needs .* of memory"):
        read_nir(path)


def test_wrong_dtypes_are_refused(tmp_path):
    def fill(node):
        node.create_dataset("weight", data=np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]))

    with pytest.raises(ModelFileError, match=r"node/weight has dtype .* not numbers or strings"):
        read_nir(hostile(tmp_path / "compound.nir", fill))


def test_not_a_nir_file(tmp_path):
    (tmp_path / "a.nir").write_bytes(b"not hdf5 at all")
    with pytest.raises(ModelFileError, match=r"a\.nir: not a NIR \(HDF5\) file"):
        read_nir(tmp_path / "a.nir")
    with h5py.File(tmp_path / "b.nir", "w") as f:
        f.create_dataset("x", data=1)
    with pytest.raises(ModelFileError, match=r"b\.nir: not a NIR file \(no 'node' group\)"):
        read_nir(tmp_path / "b.nir")
    with pytest.raises(InputPathError, match=r"NIR file .*missing\.nir: no such file"):
        read_nir(tmp_path / "missing.nir")


def test_malformed_graph_the_nir_package_refuses(tmp_path):
    def fill(node):
        node.create_group("nodes").create_group("x").create_dataset("type", data=b"Bogus")
        node.create_dataset("edges", data=np.zeros((0, 2), "S1"))

    with pytest.raises(ModelFileError, match=r"not a NIR graph the nir package reads"):
        read_nir(hostile(tmp_path / "bogus.nir", fill))


def conv_graph(**conv) -> nir.NIRGraph:
    params = {"input_shape": (6, 6), "weight": np.ones((2, 1, 3, 3)), "stride": 1, "padding": 0, "dilation": 1,
              "groups": 1, "bias": np.zeros(2)} | conv
    return graph({"input": nir.Input(input_type={"input": np.array([1, 6, 6])}), "c": nir.Conv2d(**params),
                  "output": nir.Output(output_type={"output": np.array([2, 4, 4])})},
                 [("input", "c"), ("c", "output")])


def test_zero_conv_groups_are_refused_not_read_as_one():
    with pytest.raises(ShapeError, match=r"NIR node 'c' \(Conv2d\)\.groups = 0: must be ≥ 1"):
        from_nir(conv_graph(groups=0))


def test_a_zero_stride_in_a_file_is_one_line_without_the_nir_packages_warnings(tmp_path):
    path = tmp_path / "c.nir"
    nir.write(path, conv_graph())
    with h5py.File(path, "r+") as f:
        del f["node/nodes/c/stride"]
        f["node/nodes/c/stride"] = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning printed to the user's terminal would be a second line
        with pytest.raises(ModelFileError, match=r"c\.nir: not a NIR graph"):
            read_nir(path)


def test_time_constants_per_neuron_are_kept_per_neuron_and_written_back():
    net = from_nir(readout_graph(nir.LI(tau=np.array([1e-3, 2e-3]), r=np.ones(2), v_leak=np.zeros(2))), dt=1e-4)
    np.testing.assert_allclose(net.node("ro").beta, [0.9, 0.95])
    written = to_nir(net, dt=1e-4)
    np.testing.assert_allclose(written.nodes["ro"].tau, [1e-3, 2e-3], rtol=1e-6)
