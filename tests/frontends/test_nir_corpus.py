"""NIR graphs nobody here exported (tests/frontends/nir_corpus.py): each imports, simulates, exports
and re-imports to the same network — spikes identical and membranes / read-outs within float32
tolerance, step by step, in every neuron layer — or is refused with one line naming the node and
its type."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from frontends.nir_corpus import CORPUS

from spikeforge.frontends.nir import NIRExportWarning, from_nir, read_nir, write_nir
from spikeforge.ir import network as ir
from spikeforge.sim import simulator

RUNS = sorted(k for k, case in CORPUS.items() if case.refused is None)
REFUSED = sorted(k for k, case in CORPUS.items() if case.refused is not None)


def steps(net: ir.Network, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each neuron layer's and output's value at every step (T, N, ...)."""
    c = simulator.compiled(net, False)
    seen: dict[str, np.ndarray] = {}
    keep = {n.name for n in net.nodes if n.is_neuron} | set(net.outputs)
    t = x.shape[1]

    def observe(node, ins, value):
        if node.name in keep:
            data = value.data if value.mode == "temporal" else value.data.expand(t, *value.data.shape)
            seen[node.name] = data.numpy().copy()

    simulator.run_batch(c, torch.as_tensor(x), t, torch.tensor([t]), lambda n, v: v.data, observe=observe)
    return seen


def test_the_corpus_is_wide():
    assert len(CORPUS) >= 30 and len(RUNS) >= 20 and len(REFUSED) >= 8


@pytest.mark.parametrize("key", RUNS)
def test_corpus_graph_imports_simulates_and_round_trips(tmp_path, key):
    case = CORPUS[key]
    net = from_nir(case.build(), dt=case.dt, reset=case.reset)
    x = (np.random.default_rng(0).random((4, 12, *net.input.shape)) < 0.4).astype(np.float32)
    result = simulator.simulate(net, x, timesteps=12)
    assert all(np.isfinite(v).all() for v in result.outputs.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRExportWarning)  # reset by subtraction, written as reset to 0
        path = write_nir(net, tmp_path / f"{key}.nir")
    back = read_nir(path, dt=case.dt or 1e-4, reset=case.reset)
    assert [type(back.node(n)).__name__ for n in back.outputs] == [type(net.node(n)).__name__ for n in net.outputs]
    a, b = steps(net, x), steps(back, x)
    neurons = [n for n in net.nodes if n.is_neuron]
    assert neurons and all(n.name in b for n in neurons)
    fired = 0
    for n in neurons:
        if n.spiking:
            assert np.array_equal(a[n.name], b[n.name]), n.name
            fired += int(a[n.name].sum())
        else:
            scale = max(1.0, float(np.abs(a[n.name]).max()))
            np.testing.assert_allclose(b[n.name], a[n.name], rtol=0, atol=1e-5 * scale, err_msg=n.name)
    for mine, theirs in zip(net.outputs, back.outputs):
        np.testing.assert_allclose(b[theirs], a[mine], rtol=0, atol=1e-5 * max(1.0, float(np.abs(a[mine]).max())))
    assert fired or not any(n.spiking for n in neurons), "no spike anywhere: the check would prove nothing"


@pytest.mark.parametrize("key", REFUSED)
def test_corpus_graph_is_refused_in_one_line(key):
    case = CORPUS[key]
    error, pattern = case.refused
    with pytest.raises(error, match=pattern) as info:
        from_nir(case.build(), dt=case.dt, reset=case.reset)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["mlp_li_readout", "mlp_cubali_readout", "if_i_readout", "threshold_hidden",
                                 "conv_li_readout", "cuba_recurrent_affine", "threshold_in_a_loop"])
def test_readouts_and_thresholds_compile_on_loihi(tmp_path, capsys, key):
    """A read-out maps as neurons that never fire; a threshold as a layer of spiking neurons."""
    from spikeforge.cli import main

    case = CORPUS[key]
    net = from_nir(case.build(), dt=case.dt, reset=case.reset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRExportWarning)
        write_nir(net, tmp_path / "g.nir")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=(rng.random((4, 8, *net.input.shape)) < 0.3).astype(np.float32))
    argv = ["compile", str(tmp_path / "g.nir"), "--hw", "loihi", "--calib", str(tmp_path / "calib.npz"), "-T", "8",
            "-o", str(tmp_path / "art")]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "guaranteed throughput" in out
    assert f"{net.neuron_count()} /" in out.replace(",", "")  # every neuron mapped, read-outs included


def test_readout_graph_imports_and_exports_on_the_command_line(tmp_path, capsys):
    from spikeforge.cli import main

    write_nir(from_nir(CORPUS["mlp_cubali_readout"].build()), tmp_path / "g.nir")
    assert main(["import", str(tmp_path / "g.nir"), "-o", str(tmp_path / "net")]) == 0, capsys.readouterr().err
    assert "CubaLI θ̄=inf" in capsys.readouterr().out  # a read-out's threshold is never reached
    assert main(["export", str(tmp_path / "net"), "-o", str(tmp_path / "back.nir")]) == 0
    assert isinstance(read_nir(tmp_path / "back.nir").node("l3"), ir.CubaLI)
