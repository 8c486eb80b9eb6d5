"""The one neuron kernel: its equations (leak, reset, CUBA current), integer rounding and
saturation, the surrogate gradient, and the float simulation, the integer simulation and QAT's
spiking phase giving identical spikes per layer per step on one quantised network."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikeforge.errors import SimulationError
from spikeforge.ir import network as ir
from spikeforge.models.layers import QCFS
from spikeforge.quantize import simulate_integer
from spikeforge.quantize.qat import spiking
from spikeforge.sim.neuron import (
    FLOAT,
    Arithmetic,
    IntegerArithmetic,
    NeuronParams,
    NeuronState,
    Tally,
    TriangleSurrogate,
    initial_state,
    neuron_params,
    neuron_step,
)
from spikeforge.sim.simulator import compiled, run_batches


def run(params, currents, arithmetic=FLOAT, like=None):
    """Spikes and potentials after each step of one neuron fed ``currents``."""
    state = initial_state(params, torch.zeros(1, dtype=arithmetic.dtype) if like is None else like, arithmetic)
    spikes, potentials = [], []
    for current in currents:
        s, state = neuron_step(state, torch.tensor([float(current)], dtype=arithmetic.dtype), params,
                               arithmetic=arithmetic)
        spikes.append(float(s[0]))
        potentials.append(float(state.v[0]))
    return spikes, potentials


def test_if_equations_and_reset_by_subtraction():
    # v0 = 0, input 0.4: v = 0.4, 0.8, 1.2 → spike, 0.2 left (residual charge carries over)
    spikes, v = run(NeuronParams(torch.tensor(1.0, dtype=torch.float64), v_init=0.0), [0.4] * 5,
                    Arithmetic(torch.float64))
    assert spikes == [0, 0, 1, 0, 1]
    assert v == pytest.approx([0.4, 0.8, 0.2, 0.6, 0.0])


def test_leak():
    # beta 0.5, input 0.6: v = 0.6, 0.9, 1.05 → spike, 0.05 left
    spikes, v = run(NeuronParams(torch.tensor(1.0, dtype=torch.float64), beta=0.5, v_init=0.0), [0.6] * 3,
                    Arithmetic(torch.float64))
    assert spikes == [0, 0, 1] and v == pytest.approx([0.6, 0.9, 0.05])


def test_v_init_is_a_fraction_of_the_threshold():
    spikes, v = run(NeuronParams(torch.tensor(4.0), v_init=0.5), [2.0])
    assert spikes == [1] and v == [0.0]


def test_reset_to_value():
    spikes, v = run(NeuronParams(torch.tensor(1.0), v_init=0.0, v_reset=0.0), [0.7, 0.7, 0.7])
    assert spikes == [0, 1, 0] and v == pytest.approx([0.7, 0.0, 0.7])  # the 0.4 above θ is lost


def test_cuba_synaptic_current():
    # alpha 0.5: i = 4, 2, 1, 0.5; v integrates i (beta 1) and fires at 6 → 6 - 6, then 1, 1.5
    params = NeuronParams(torch.tensor(6.0, dtype=torch.float64), v_init=0.0, alpha=0.5)
    spikes, v = run(params, [4, 0, 0, 0], Arithmetic(torch.float64))
    assert spikes == [0, 1, 0, 0] and v == pytest.approx([4.0, 0.0, 1.0, 1.5])
    state = initial_state(params, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(state.i_syn, torch.zeros(2, dtype=torch.float64))


def test_integer_arithmetic_floors_fractions():
    # v0 = floor(0.5 · 5) = 2; floor(0.5 · 2) + 3 = 4; floor(0.5 · 4) + 3 = 5 → spike, 0; 0 + 3 = 3
    params = NeuronParams(torch.tensor(5.0, dtype=torch.float64), beta=0.5, v_init=0.5)
    spikes, v = run(params, [3, 3, 3], IntegerArithmetic())
    assert spikes == [0, 1, 0] and v == [4.0, 0.0, 3.0]


def test_integer_register_saturates_and_counts():
    tally = Tally()
    params = NeuronParams(torch.tensor(4.0, dtype=torch.float64), v_init=0.0)
    spikes, v = run(params, [6, 6, -20], IntegerArithmetic(bits=4, tally=tally))  # register -8..7
    # 6 → spike, 2; 8 clamps to 7 → spike, 3; -17 clamps to -8
    assert spikes == [1, 1, 0] and v == [2.0, 3.0, -8.0]
    assert tally == Tally(overflows=2, peak=17.0)


def test_step_is_pure():
    params = NeuronParams(torch.tensor(1.0), v_init=0.5)
    state = NeuronState(torch.tensor([0.9, 0.1]))
    before = state.v.clone()
    spikes, new = neuron_step(state, torch.tensor([0.5, 0.5]), params)
    assert torch.equal(state.v, before) and new.v.data_ptr() != state.v.data_ptr()
    assert spikes.tolist() == [1.0, 0.0] and new.v.tolist() == pytest.approx([0.4, 0.6])


def test_surrogate_gradient_is_the_triangle():
    theta = torch.tensor(2.0)
    params = NeuronParams(theta, v_init=0.0)
    current = torch.tensor([1.0, 1.5, 2.5, 5.0], requires_grad=True)
    spikes, _ = neuron_step(initial_state(params, current.detach()), current, params, surrogate=TriangleSurrogate)
    plain, _ = neuron_step(initial_state(params, current.detach()), current.detach(), params)
    assert torch.equal(spikes.detach(), plain)
    (grad,) = torch.autograd.grad(spikes.sum(), current)
    u = current.detach() - theta
    assert torch.allclose(grad, torch.clamp(1 - u.abs() / theta, min=0) / theta)


def test_params_from_the_ir():
    lif = ir.LIF("n", ("x",), threshold=np.array([3.0, 5.0], np.float32), v_init=0.25, beta=0.75)
    p = neuron_params(lif, 4, torch.float64)
    assert p.threshold.shape == (2, 1, 1) and p.threshold.dtype == torch.float64
    assert (p.beta, p.v_init, p.v_reset, p.alpha) == (0.75, 0.25, None, None)
    assert neuron_params(ir.IF("n", ("x",), threshold=np.float32(2)), 2).beta == 1.0
    with pytest.raises(SimulationError, match="layer r: ReLU is not a neuron layer"):
        neuron_params(ir.ReLU("r", ("x",)), 2)


@settings(max_examples=60, deadline=None)
@given(currents=st.lists(st.integers(-50, 50), min_size=1, max_size=12), theta=st.integers(1, 40),
       v_init=st.sampled_from([0.0, 0.25, 0.5, 0.75]))
def test_integer_step_conserves_charge_and_matches_float(currents, theta, v_init):
    # Reset by subtraction loses nothing: v_T = v_0 + ΣI − θ·Σs, at most one spike per step; on
    # integers, float64 arithmetic fires the same spikes once v_0 is the same integer.
    params = NeuronParams(torch.tensor(float(theta), dtype=torch.float64), v_init=v_init)
    spikes, v = run(params, currents, IntegerArithmetic())
    v0 = np.floor(v_init * theta)
    assert v[-1] == v0 + sum(currents) - theta * sum(spikes)
    assert set(spikes) <= {0.0, 1.0}
    start = torch.full((1,), v0, dtype=torch.float64)
    state = NeuronState(start)
    for current, spike in zip(currents, spikes):
        s, state = neuron_step(state, torch.tensor([float(current)], dtype=torch.float64), params,
                               arithmetic=Arithmetic(torch.float64))
        assert float(s[0]) == spike


# -- the float simulation, the integer simulation and QAT's spiking phase ------------------------
LAMBDAS = (6.0, 4.0)  # even: v_init · λ = λ/2 is an integer, so floor() changes nothing


def quantised_pair(seed):
    """A torch model with QCFS activations and integer weights, and the quantised SNN it deploys
    as: IF neurons with θ = λ and binary spikes, the next layer's weights scaled by λ."""
    rng = np.random.default_rng(seed)
    sizes = (16, 8, 6, 3)
    weights = [rng.integers(-3, 4, (o, i)).astype(np.float32) for i, o in itertools.pairwise(sizes)]
    biases = [rng.integers(-2, 3, o).astype(np.float32) for o in sizes[1:]]
    model = nn.Sequential(nn.Linear(16, 8), QCFS(4, LAMBDAS[0]), nn.Linear(8, 6), QCFS(4, LAMBDAS[1]),
                          nn.Linear(6, 3))
    with torch.no_grad():
        for layer, w, b in zip(model[::2], weights, biases):
            layer.weight.copy_(torch.as_tensor(w))
            layer.bias.copy_(torch.as_tensor(b))
    scales = (1.0, *LAMBDAS)
    nodes = [ir.Input("x", (), (16,))]
    for k, (w, b) in enumerate(zip(weights, biases)):
        nodes.append(ir.Linear(f"l{k}", (nodes[-1].name,), w * scales[k], b))
        if k < 2:
            nodes.append(ir.IF(f"n{k}", (f"l{k}",), threshold=np.float32(LAMBDAS[k])))
    return model, ir.Network(tuple(nodes), ("l2",), name=f"q{seed}")


def simulated_spikes(net, x, timesteps, integer):
    """Spikes (T, B, n) of each neuron layer, from the simulators' loop."""
    seen = {}

    def observe(node, inputs, output):
        if node.is_neuron:
            seen[node.name] = output.data.to(torch.float64).clone()

    run_batches(compiled(net, integer), x, timesteps, torch.as_tensor([timesteps]), lambda _, v: v.data,
                batch_size=len(x), observe=observe)
    return seen


def qat_spikes(model, x, timesteps):
    """Spikes (T, B, n) of each QCFS layer in QAT's spiking phase, seen as the inputs of the
    Linear layer after it (spikes × λ: the QCFS modules are swapped, the Linear layers are not)."""
    seen = []
    hooks = [layer.register_forward_pre_hook(lambda _m, args, lam=lam: seen.append((args[0] / lam).detach()))
             for layer, lam in zip(model[2::2], LAMBDAS)]
    with spiking(model, timesteps, v_init=0.5, beta=1.0) as snn, torch.no_grad():
        snn(x)
    for h in hooks:
        h.remove()
    return [s.reshape(timesteps, len(x), -1).double() for s in seen]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float_integer_and_qat_spikes_are_identical(seed):
    timesteps = 8
    model, net = quantised_pair(seed)
    x = torch.as_tensor(np.random.default_rng(seed + 10).integers(0, 8, (32, 16)), dtype=torch.float32)
    as_float = simulated_spikes(net, x, timesteps, integer=False)
    as_integer = simulated_spikes(net, x, timesteps, integer=True)
    in_qat = qat_spikes(model, x, timesteps)
    for k, name in enumerate(("n0", "n1")):
        assert as_float[name].sum() > 0 and as_float[name].mean() < 1  # neither silent nor saturated
        assert torch.equal(as_float[name], as_integer[name]), name
        assert torch.equal(as_float[name], in_qat[k]), name
    counts = simulate_integer(net, x.numpy(), timesteps).spike_counts
    for name in ("n0", "n1"):
        np.testing.assert_array_equal(counts[name], as_integer[name].sum((0, 1)).numpy().astype(np.int64))
