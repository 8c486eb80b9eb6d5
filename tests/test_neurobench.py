"""NeuroBench's metrics from spikeforge's simulation (issue 22, item 4).

The definitions are checked by hand on small cases here; :func:`test_neurobench_agrees` runs the
``neurobench`` package itself (2.3.0) on the same network rebuilt in snnTorch, in the benchmark
venv (``.venv-bench``, or ``SPIKEFORGE_NEUROBENCH_PYTHON``), and skips with the reason where that
interpreter or its ``neurobench`` is missing: the default suite never needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spikeforge.errors import ArgumentError, OutputPathError, SimulationError
from spikeforge.ir import network as ir
from spikeforge.neurobench import METRICS, neurobench_metrics, write_neurobench

ROOT = Path(__file__).resolve().parents[1]


def small_net() -> ir.Network:
    """Conv (with zero weights and a bias) → IF → Linear → IF → Linear read-out; integer values."""
    rng = np.random.default_rng(3)
    conv = rng.integers(-2, 4, (3, 1, 3, 3)).astype(np.float32)
    conv[0, 0, 0, :] = 0
    fc = rng.integers(-1, 3, (5, 27)).astype(np.float32)
    fc[:, :7] = 0
    return ir.Network((ir.Input("x", (), (1, 6, 6)),
                       ir.Conv2d("conv", ("x",), conv, bias=np.array([1, 0, -1], np.float32), padding=(1, 1),
                                 stride=(2, 2)),
                       ir.IF("n1", ("conv",), threshold=np.float32(9)),
                       ir.Flatten("flat", ("n1",)),
                       ir.Linear("fc", ("flat",), fc),
                       ir.IF("n2", ("fc",), threshold=np.array([3, 4, 5, 3, 2], np.float32)),
                       ir.Linear("out", ("n2",), rng.integers(-2, 3, (3, 5)).astype(np.float32))),
                      ("out",), name="nb-small")


def data(binary: bool = False):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 2 if binary else 8, (7, 1, 6, 6)).astype(np.float32)
    return x, rng.integers(0, 3, 7)


def test_definitions_on_a_hand_counted_network():
    """One dense synapse of weight 1 (and one of weight 0) from a binary input: ACs, dense pairs,
    spikes every other step, every membrane update (the current 1 never equals the reset 2)."""
    net = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.array([[1.0, 0.0]], np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(2.0), v_init=0.0)), ("n",))
    m = neurobench_metrics(net, np.array([[1.0, 1.0]], np.float32), timesteps=6)
    assert m["SynapticOperations"] == {"Effective_MACs": 0.0, "Effective_ACs": 6.0, "Dense": 12.0}
    assert m["ConnectionSparsity"] == 0.5
    assert m["ActivationSparsity"] == 0.5
    # step 1: 1 neuron; steps 2..6: I - s_{t-1} θ = 1 - 2 s_{t-1} is never 0
    assert m["MembraneUpdates"] == 6.0
    assert m["Footprint"] == (2 + 2) * 4  # weight; threshold and v_init
    assert "ClassificationAccuracy" not in m


def test_analog_inputs_are_macs_and_unchanged_membranes_are_not_updates():
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[2.0]], np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(5.0), v_init=0.0)), ("n",))
    zero = neurobench_metrics(net, np.zeros((1, 1), np.float32), timesteps=4)
    assert zero["MembraneUpdates"] == 1.0  # only the first step counts every neuron
    assert zero["SynapticOperations"]["Effective_ACs"] == 0.0 and zero["SynapticOperations"]["Dense"] == 4.0
    analog = neurobench_metrics(net, np.full((1, 1), 0.5, np.float32), timesteps=4)
    assert analog["SynapticOperations"] == {"Effective_MACs": 4.0, "Effective_ACs": 0.0, "Dense": 4.0}


def test_an_integrator_read_out_is_no_activation_and_updates_with_its_input():
    """An I read-out (LI with beta = 1) after an IF layer: only the IF layer's spikes are
    activations; the read-out's membrane changes whenever a spike arrives."""
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[1.0]], np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(2.0), v_init=0.0),
                      ir.Linear("out", ("n",), np.array([[1.0]], np.float32)),
                      ir.LI("r", ("out",), beta=1.0)), ("r",))
    m = neurobench_metrics(net, np.ones((1, 1), np.float32), timesteps=6)
    assert m["ActivationSparsity"] == 0.5  # the IF neuron spikes every other step; the read-out is not counted
    # IF: 6 updates (1 - 2 s never 0); read-out: step 1 plus steps 2, 4, 6, whose input is a spike
    assert m["MembraneUpdates"] == 6.0 + 1.0 + 3.0


def test_layout_accuracy_and_write(tmp_path):
    x, y = data()
    m = neurobench_metrics(small_net(), x, y, timesteps=5, integer=True)
    assert set(METRICS) <= set(m) and set(m) - set(METRICS) == {"spikeforge"}
    assert 0.0 <= m["ClassificationAccuracy"] <= 1.0 and 0.0 < m["ActivationSparsity"] < 1.0
    ops = m["SynapticOperations"]
    assert ops["Effective_MACs"] > 0 and ops["Effective_ACs"] > 0 and ops["Dense"] > ops["Effective_ACs"]
    path = write_neurobench(tmp_path / "nb.json", m)
    assert json.loads(path.read_text())["SynapticOperations"] == ops


def test_bad_input():
    x, _ = data()
    with pytest.raises(SimulationError, match="timesteps=0: must be an integer"):
        neurobench_metrics(small_net(), x, timesteps=0)
    with pytest.raises(SimulationError, match="batch_size"):
        neurobench_metrics(small_net(), x, timesteps=2, batch_size=0)
    with pytest.raises(ArgumentError, match="neurobench_metrics\\(\\): parameter 'net'"):
        neurobench_metrics(None, x, timesteps=2)
    leaky = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.ones((1, 2), np.float32)),
                        ir.LIF("n", ("fc",), threshold=np.float32(1.0), beta=0.5)), ("n",))
    with pytest.raises(SimulationError, match="layer n: membrane updates of leaky neurons"):
        neurobench_metrics(leaky, np.ones((1, 2), np.float32), timesteps=3)


def test_write_refuses_a_folder(tmp_path):
    with pytest.raises(OutputPathError):
        write_neurobench(tmp_path, {"Footprint": 0})


# ---------------------------------------------------------------------------------------------
# the neurobench package itself, in its own interpreter

SCRIPT = r'''
import json, sys
import numpy as np, torch, snntorch as snn
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from neurobench.benchmarks import Benchmark
from neurobench.models import SNNTorchModel
from neurobench.metrics.static import Footprint, ConnectionSparsity
from neurobench.metrics.workload import (ActivationSparsity, SynapticOperations, MembraneUpdates,
                                         ClassificationAccuracy)

a = dict(np.load(sys.argv[1]))
T = int(a["T"])


class Net(nn.Module):
    """The spikeforge network in snnTorch: IF = Leaky(beta=1, subtract reset). snnTorch fires on
    v > θ, spikeforge on v >= θ: on integer potentials the two agree once the potential starts
    ½ higher (the reset by subtraction keeps the offset)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2, padding=1)
        self.n1 = snn.Leaky(beta=1.0, threshold=float(a["th1"]), reset_mechanism="subtract", init_hidden=True)
        self.fc = nn.Linear(27, 5, bias=False)
        self.n2 = snn.Leaky(beta=1.0, threshold=torch.tensor(a["th2"]), reset_mechanism="subtract",
                            init_hidden=True)
        self.out = nn.Linear(5, 3, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(a["conv"])); self.conv.bias.copy_(torch.tensor(a["bias"]))
            self.fc.weight.copy_(torch.tensor(a["fc"])); self.out.weight.copy_(torch.tensor(a["out"]))
        self.fresh = True

    def reset(self):
        self.fresh = True

    def forward(self, x):
        i1 = self.conv(x)
        if self.fresh:
            self.n1.mem = torch.floor(0.5 * self.n1.threshold) + 0.5 + torch.zeros_like(i1)
        s1 = self.n1(i1)
        i2 = self.fc(s1.flatten(1))
        if self.fresh:
            self.n2.mem = torch.floor(0.5 * self.n2.threshold) + 0.5 + torch.zeros_like(i2)
            self.fresh = False
        s2 = self.n2(i2)
        o = self.out(s2)
        return o, o


x, y = torch.tensor(a["x"]), torch.tensor(a["y"])
loader = DataLoader(TensorDataset(x, y), batch_size=int(a["batch"]))
pre = [lambda d: (d[0].unsqueeze(1).repeat(1, T, 1, 1, 1), d[1])]
post = [lambda p: p.sum(1).argmax(-1)]
net = Net()
buffers = sum(b.numel() * b.element_size() for m in (net.n1, net.n2) for b in m.buffers())
bench = Benchmark(SNNTorchModel(net), loader, pre, post,
                  [[Footprint, ConnectionSparsity],
                   [ActivationSparsity, SynapticOperations, MembraneUpdates, ClassificationAccuracy]])
r = bench.run(quiet=True)
r["neuron_buffers_bytes"] = buffers
print(json.dumps(r, default=float))
'''


def neurobench_python() -> str:
    python = os.environ.get("SPIKEFORGE_NEUROBENCH_PYTHON", str(ROOT / ".venv-bench" / "bin" / "python"))
    if not Path(python).is_file():
        pytest.skip(f"no NeuroBench interpreter at {python} (make bench-peers; pip install neurobench==2.3.0 "
                    "snntorch there, or set SPIKEFORGE_NEUROBENCH_PYTHON)")
    probe = subprocess.run([python, "-c", "import neurobench, snntorch"], capture_output=True, text=True, check=False)
    if probe.returncode:
        pytest.skip(f"{python} cannot import neurobench and snntorch (pip install --no-deps neurobench==2.3.0 "
                    f"snntorch there): {probe.stderr.strip().splitlines()[-1]}")
    return python


@pytest.mark.parametrize("binary", [False, True])
def test_neurobench_agrees(tmp_path, binary):
    python = neurobench_python()
    net, (x, y), T = small_net(), data(binary), 6
    nodes = {n.name: n for n in net.nodes}
    np.savez(tmp_path / "net.npz", x=x, y=y, T=T, batch=3, conv=nodes["conv"].weight, bias=nodes["conv"].bias,
             fc=nodes["fc"].weight, out=nodes["out"].weight, th1=nodes["n1"].threshold,
             th2=nodes["n2"].threshold)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    run = subprocess.run([python, str(script), str(tmp_path / "net.npz")], capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = json.loads(run.stdout.strip().splitlines()[-1])
    ours = neurobench_metrics(net, x, y, timesteps=T, integer=True, batch_size=3)
    assert ours["SynapticOperations"] == pytest.approx(theirs["SynapticOperations"], rel=1e-12)
    if binary:
        assert ours["SynapticOperations"]["Effective_MACs"] == 0
    else:
        assert ours["SynapticOperations"]["Effective_MACs"] > 0
    for key in ("ActivationSparsity", "MembraneUpdates", "ConnectionSparsity"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-9), key
    # neurobench averages per-batch accuracies in float32
    assert ours["ClassificationAccuracy"] == pytest.approx(theirs["ClassificationAccuracy"], rel=1e-6)
    # the parameters agree byte for byte; neurons' parameters are stored as each framework stores them
    assert ours["spikeforge"]["parameters_bytes"] == theirs["Footprint"] - theirs["neuron_buffers_bytes"]


def test_simulate_writes_neurobench_json(tmp_path):
    from rich.console import Console

    from spikeforge.cli import build_parser
    from spikeforge.datasets import Dataset, save_data
    from spikeforge.ir.serialize import save_network

    x, y = data()
    save_network(small_net(), tmp_path / "net")
    save_data(tmp_path / "d.npz", Dataset(x, y, "d"))
    args = build_parser().parse_args(["simulate", str(tmp_path / "net"), "--data", str(tmp_path / "d.npz"), "-T", "5",
                                      "--neurobench", str(tmp_path / "nb.json")])
    args.run(args, Console(record=True, width=200))
    written = json.loads((tmp_path / "nb.json").read_text())
    direct = neurobench_metrics(small_net(), x, y, timesteps=5)
    assert written["SynapticOperations"] == direct["SynapticOperations"]
    assert written["ClassificationAccuracy"] == direct["ClassificationAccuracy"]
    assert written["spikeforge"]["samples"] == 7
