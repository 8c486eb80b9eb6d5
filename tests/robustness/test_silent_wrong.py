"""No silent wrong answers (issue 17, item 6): admission checks the hardware an artifact was
compiled for; labels out of range, degenerate calibration data, out-of-range neuron parameters
and zero timesteps are errors; names echoed to the terminal are printed as they are."""

from __future__ import annotations

import io
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console

from spikeforge.artifact import load_artifact
from spikeforge.cli import build_parser, main
from spikeforge.convert.calibrate import calibrate_biases
from spikeforge.convert.normalise import convert
from spikeforge.dataflow.binding import Platform, bind
from spikeforge.datasets import Dataset, save_data
from spikeforge.errors import (
    AdmissionError,
    ConversionError,
    InvalidDataError,
    InvalidNetworkError,
    ModelFileError,
    SimulationError,
)
from spikeforge.explore.report import sweep_table
from spikeforge.frontends.model_file import save_model
from spikeforge.hardware import hardware_to_toml, load_hardware
from spikeforge.ir import network as ir
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.ir.serialize import save_network
from spikeforge.models import build_model
from spikeforge.report.tables import accuracy_table, network_table, profile_table
from spikeforge.runtime.admission import Design, Runtime, hardware_shortfalls
from spikeforge.sim.simulator import check_labels, simulate, top1_accuracy

TINY = {"core.crossbar_rows": 2, "core.crossbar_columns": 2, "core.neurons_per_core": 2,
        "core.max_fan_in_per_neuron": 2}


def _run(argv):
    args = build_parser().parse_args(argv)
    out = Console(file=io.StringIO(), width=300)
    return args.run(args, out), out.file.getvalue()


def _render(table) -> str:
    """The printed text, whitespace collapsed (a title wraps to its table's width)."""
    out = Console(file=io.StringIO(), width=300)
    out.print(table)
    return " ".join(out.file.getvalue().split())


# --- admission: the hardware an application was compiled for ---------------------------------

def _design(hw, timesteps=4):
    actors = tuple(Actor(f"c{i}", 10.0) for i in range(3))
    channels = (Channel("f0", "c0", "c1", 1, 1), Channel("b0", "c1", "c0", 1, 1, 2),
                Channel("f1", "c1", "c2", 1, 1), Channel("b1", "c2", "c1", 1, 1, 2))
    app = DataflowGraph(actors, channels, name="app")
    platform = Platform.from_hardware(hw)
    return Design.from_schedule(app, bind(app, platform, "in-order"), platform, timesteps=timesteps)


def test_hardware_shortfalls_compare_every_property_the_design_depends_on():
    mesh = load_hardware("xbar-mesh")
    assert hardware_shortfalls(mesh, mesh) == []
    assert hardware_shortfalls(mesh, mesh.with_chips(4)) == []  # the board is re-analysed
    tiny = mesh.replace(name="tiny", **TINY)
    assert hardware_shortfalls(mesh, tiny) == [
        "core.crossbar_rows ≥ 128 needed, tiny has 2", "core.crossbar_columns ≥ 128 needed, tiny has 2",
        "core.neurons_per_core ≥ 128 needed, tiny has 2",
        "synapse_memory_bits_per_core ≥ 131072 needed, tiny has 32",
        "core.max_fan_in_per_neuron ≥ 128 needed, tiny has 2"]
    other = mesh.replace(name="other", **{"precision.weight_bits": 4, "precision.threshold_bits": 8,
                                          "precision.membrane_bits": 8, "timing.crossbar_eval_ns": 200.0,
                                          "timing.timestep_ns": 1000.0, "core.crossbars_per_core": 2,
                                          "core.input_buffer_spikes": 8})
    assert hardware_shortfalls(mesh, other) == [
        "core.input_buffer_spikes ≥ 512 needed, other has 8",
        "precision.weight_bits ≥ 8 needed, other has 4", "precision.threshold_bits ≥ 16 needed, other has 8",
        "precision.membrane_bits ≥ 16 needed, other has 8",
        "timing.crossbar_eval_ns ≤ 100.0 needed, other has 200.0",
        "timing.timestep_ns ≤ none needed, other has 1000.0",
        "core.crossbars_per_core = 1 needed, other has 2"]
    # a limit the design never had to respect is a shortfall; a bigger or faster target is not
    assert hardware_shortfalls(mesh, load_hardware("loihi"))[0] == \
        "core.max_fan_out_per_core ≥ unlimited needed, loihi has 4096"
    bigger = mesh.replace(**{"core.crossbar_rows": 256, "core.max_fan_in_per_neuron": None,
                             "timing.crossbar_eval_ns": 50.0})
    assert hardware_shortfalls(mesh, bigger) == []


def test_design_for_larger_crossbars_is_rejected_with_the_reason():
    loihi = load_hardware("loihi")
    design = _design(loihi)
    r = Runtime("xbar-mesh").admit(design)
    assert not r.admitted and r.crossbars == () and r.inferences_per_s is None
    assert r.reason.startswith("application app was compiled for loihi: core.crossbar_rows ≥ 4096 needed, "
                               "xbar-mesh has 128; core.crossbar_columns ≥ 1024 needed, xbar-mesh has 128;")
    assert Runtime(loihi.with_chips(2)).admit(design).admitted
    bare = Runtime(Platform(8)).admit(design)
    assert not bare.admitted and bare.reason == ("application app was compiled for loihi; the platform has no "
                                                 "hardware spec to check it against")


@pytest.mark.parametrize("timesteps, match", [(0, "timesteps 0: must be ≥ 1"),
                                              (2.5, "timesteps 2.5: must be an integer")])
def test_design_timesteps_must_be_a_positive_integer(timesteps, match):
    d = _design(load_hardware("xbar-mesh"))
    with pytest.raises(AdmissionError, match=f"Design of application app: {match}"):
        Design(d.application, d.platform, d.period, d.critical, timesteps=timesteps)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn")
    folder = tmp_path_factory.mktemp("silent")
    save_model(folder / "digits.pt", model, "digits-cnn")
    _run(["compile", str(folder / "digits.pt"), "--hw", "xbar-mesh", "--calib", "digits:train",
          "-o", str(folder / "app"), "-T", "4", "--calib-samples", "24", "--partitioner", "tiles",
          "--samples", "24"])
    return folder / "app"


def test_artifact_is_refused_on_a_tiny_crossbar(artifact, tmp_path):
    tiny = load_hardware("xbar-mesh").replace(name="tiny[/]2x2", **TINY)
    hw_file = tmp_path / "tiny.toml"
    hw_file.write_text(hardware_to_toml(tiny))
    (r,), text = _run(["admit", str(artifact), "--hw", str(hw_file)])
    assert not r.admitted and r.throughput == 0.0
    assert r.reason.startswith("application digits was compiled for xbar-mesh: core.crossbar_rows ≥ 128 "
                               "needed, tiny[/]2x2 has 2;")
    assert "admission onto tiny[/]2x2" in text and "rejected: application digits" in text
    (ok,), _ = _run(["admit", str(artifact), "--hw", "xbar-mesh"])
    assert ok.admitted and ok.inferences_per_s > 0


def _edit(doc, path, value):
    *parents, leaf = path
    for key in parents:
        doc = doc[key]
    if value is KeyError:
        del doc[leaf]
    else:
        doc[leaf] = value


@pytest.mark.parametrize("path, value, match", [
    (("timesteps",), 0, "artifact.json: timesteps 0: must be ≥ 1"),
    (("timesteps",), "4", "artifact.json: timesteps '4': must be an integer"),
    (("hardware",), KeyError, "no hardware.spec_toml: the artifact does not record the hardware"),
    (("hardware", "spec_toml"), KeyError, "no hardware.spec_toml"),
    (("name",), "", "name = '': must be a non-empty string"),
    (("schedule", "period_ns"), -1.0, r"schedule.period_ns = -1.0: must be a finite number > 0"),
    (("schedule", "period_ns"), "inf", r"schedule.period_ns = 'inf': must be a finite number > 0"),
    (("schedule", "critical"), "c0", "schedule.critical = 'c0': must be a list of actor names"),
    (("figures", "guarantee", "timesteps"), 8, "figures.guarantee.timesteps = 8: must equal timesteps = 4"),
    (("mapping", "clusters", 0, "rows"), 4096,
     r"mapping.clusters\[0\].rows = 4096: must be an integer in 0..128 \(crossbars of xbar-mesh\)"),
    (("mapping", "clusters"), [], "mapping.clusters = 0: must list the .* clusters of application.xml"),
])
def test_out_of_range_artifact_fields_are_refused_on_load(artifact, tmp_path, path, value, match):
    copy = tmp_path / "app"
    shutil.copytree(artifact, copy)
    doc = json.loads((copy / "artifact.json").read_text())
    _edit(doc, path, value)
    (copy / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=match):
        load_artifact(copy)


# --- labels ------------------------------------------------------------------------------------

def test_labels_outside_the_outputs_are_an_error():
    assert check_labels(np.array([0.0, 2.0]), 2, (3,)).tolist() == [0, 2]
    with pytest.raises(InvalidDataError, match=r"data d: 2 of 4 labels outside 0..2 \(the network has 3 outputs; "
                                               r"labels span -1..3\)"):
        check_labels([0, 3, -1, 1], 4, (3,), "data d")
    with pytest.raises(InvalidDataError, match="labels: shape \\(3,\\) does not match 2 samples"):
        check_labels([0, 1, 2], 2, (3,))
    with pytest.raises(InvalidDataError, match="labels of dtype float64 are not integer class indices"):
        check_labels([0.5, 1.0], 2, (3,))
    with pytest.raises(InvalidDataError, match=r"output per sample is \(3, 2, 2\)"):
        top1_accuracy(np.zeros((2, 3, 2, 2)), [0, 1])


def _snn(name="snn", layer="n"):
    rng = np.random.default_rng(0)
    return ir.Network((ir.Input("x", (), (4,)),
                       ir.Linear("fc", ("x",), rng.uniform(0, 1, (5, 4)).astype(np.float32)),
                       ir.IF(layer, ("fc",), threshold=np.float32(1.0)),
                       ir.Linear("out", (layer,), rng.normal(size=(3, 5)).astype(np.float32))), ("out",), name)


def test_simulate_refuses_labels_beyond_the_outputs():
    x = np.random.default_rng(1).uniform(0, 1, (6, 4)).astype(np.float32)
    with pytest.raises(InvalidDataError, match=r"labels: 1 of 6 labels outside 0..2"):
        simulate(_snn(), x, timesteps=2, labels=[0, 1, 2, 0, 1, 3])
    with pytest.raises(SimulationError, match="timesteps=True"):
        simulate(_snn(), x, timesteps=True)


def test_cli_simulate_names_the_data_with_bad_labels(tmp_path, capsys):
    save_network(_snn(), tmp_path / "snn")
    x = np.random.default_rng(1).uniform(0, 1, (5, 4)).astype(np.float32)
    save_data(tmp_path / "bad.npz", Dataset(x, np.array([0, 1, 2, 7, 3]), "bad"))
    assert main(["simulate", str(tmp_path / "snn"), "--data", str(tmp_path / "bad.npz"), "-T", "2"]) == 2
    assert "data bad: 2 of 5 labels outside 0..2 (the network has 3 outputs; labels span 0..7)" in \
        capsys.readouterr().err


# --- calibration data ----------------------------------------------------------------------------

def _ann(bias=0.5):
    rng = np.random.default_rng(0)
    return ir.Network((ir.Input("x", (), (4,)),
                       ir.Linear("l1", ("x",), rng.normal(size=(6, 4)).astype(np.float32), np.full(6, bias, np.float32)),
                       ir.ReLU("r1", ("l1",)),
                       ir.Linear("l2", ("r1",), rng.normal(size=(3, 6)).astype(np.float32))), ("l2",))


@pytest.mark.parametrize("x, match", [
    (np.zeros((5, 4), np.float32), "calibration data: all 5 samples are zero; no activation statistics"),
    (np.full((5, 4), 0.3, np.float32), "calibration data: all 5 samples are identical; no activation statistics"),
])
def test_degenerate_calibration_data_is_refused(x, match):
    ann = _ann()
    with pytest.raises(InvalidDataError, match=match):
        convert(ann, x)
    snn = convert(ann, np.random.default_rng(0).uniform(0, 1, (8, 4)).astype(np.float32))
    with pytest.raises(InvalidDataError, match=match):
        calibrate_biases(snn, ann, x, 4)


def test_a_dead_layer_cannot_be_scaled():
    x = np.random.default_rng(0).uniform(0, 1, (8, 4)).astype(np.float32)
    dead = ir.Network((ir.Input("x", (), (4,)),
                       ir.Linear("l1", ("x",), np.full((6, 4), -1.0, np.float32)), ir.ReLU("r1", ("l1",)),
                       ir.Linear("l2", ("r1",), np.ones((3, 6), np.float32))), ("l2",))
    with pytest.raises(ConversionError, match="layer r1: no neuron activates on any of the 8 calibration samples"):
        convert(dead, x)
    assert convert(_ann(), x[:1]).kind == "snn"  # one varied sample is data; a dead channel falls back


# --- neuron parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: ir.IF("n", ("x",), threshold=1.0, v_init=5.0), r"layer n \(IF\): v_init=5.0 must be a number in \[0, 1\)"),
    (lambda: ir.IF("n", ("x",), threshold=1.0, v_init=1.0), r"v_init=1.0 must be a number in \[0, 1\)"),
    (lambda: ir.IF("n", ("x",), threshold=1.0, v_init=-0.1), r"v_init=-0.1"),
    (lambda: ir.IF("n", ("x",), threshold=1.0, v_init=float("nan")), r"v_init=nan"),
    (lambda: ir.IF("n", ("x",), threshold=1.0, v_init="0.5"), r"v_init='0.5' must be a number"),
    (lambda: ir.LIF("n", ("x",), threshold=1.0, beta=0.0), r"layer n \(LIF\): beta=0.0 must be a number in \(0, 1\]"),
    (lambda: ir.LIF("n", ("x",), threshold=1.0, beta=True), r"beta=True"),
    (lambda: ir.IF("n", ("x",), threshold=np.array([1.0, 0.0])), r"layer n \(IF\): thresholds must be > 0, minimum is 0.0"),
])
def test_neuron_parameters_out_of_range(make, match):
    with pytest.raises(InvalidNetworkError, match=match):
        make()


def test_a_saved_network_with_v_init_out_of_range_does_not_load(tmp_path):
    from spikeforge.ir.serialize import load_network

    folder = save_network(_snn(), tmp_path / "snn")
    doc = json.loads((folder / "network.json").read_text())
    next(n for n in doc["nodes"] if n["type"] == "IF")["v_init"] = 5.0
    (folder / "network.json").write_text(json.dumps(doc))
    with pytest.raises((InvalidNetworkError, ModelFileError), match=r"layer n \(IF\): v_init=5.0"):
        load_network(folder)


# --- names echoed to the terminal ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["[red]x[/]", "a[/]b", "[bold]"])
def test_tables_print_names_as_they_are(name):
    net = _snn(name=name, layer=name)
    assert name in _render(network_table(net))
    profile = simulate(net, np.ones((2, 4), np.float32) * [[0.1], [0.9]], timesteps=2).profile
    assert name in _render(profile_table(profile))
    assert f"accuracy on {name}" in _render(accuracy_table(f"accuracy on {name}", [1], {name: {1: 0.5}}))
    result = SimpleNamespace(evaluations=(), front=(), target="crossbar", network=name, hardware=name, samples=3)
    assert f"co-design sweep: {name} on {name}" in _render(sweep_table(result))


def test_cli_inspect_prints_names_as_they_are(tmp_path, capsys):
    save_network(_snn(name="[red]x[/]", layer="a[/]b"), tmp_path / "snn")
    assert main(["inspect", str(tmp_path / "snn")]) == 0
    out = capsys.readouterr().out
    assert "[red]x[/] (SNN)" in out and "a[/]b" in out


def test_a_threshold_must_be_numbers():
    from spikeforge.errors import InvalidNetworkError
    from spikeforge.ir.network import IF

    for bad in ("x", "1.5", True):
        with pytest.raises(InvalidNetworkError, match=r"layer n \(IF\): threshold of dtype .* must be numbers"):
            IF("n", ("c",), bad)


def test_qcfs_options_are_checked_even_without_a_relu():
    from torch import nn

    from spikeforge.errors import ConversionError
    from spikeforge.models.layers import relu_to_qcfs

    with pytest.raises(ConversionError, match="clip=nan a finite number > 0"):
        relu_to_qcfs(nn.Linear(2, 2), clip=float("nan"))
