"""CLI commands ``quantize`` and ``accel``."""

import json

import numpy as np
import pytest
from rich.console import Console

from spikeforge.cli import build_parser
from spikeforge.datasets import Dataset, save_data
from spikeforge.errors import (
    InvalidDataError,
    InvalidHardwareSpecError,
    ModelFileError,
    QuantizationError,
    SpikeforgeError,
)
from spikeforge.ir import network as ir
from spikeforge.ir.serialize import load_metadata, save_network
from spikeforge.quantize import load_quantized


def run(argv):
    args = build_parser().parse_args(argv)
    out = Console(record=True, width=200)
    result = args.run(args, out)
    return result, out.export_text()


@pytest.fixture
def files(tmp_path):
    r = np.random.default_rng(0)
    snn = ir.Network((
        ir.Input("x", (), (1, 6, 6)),
        ir.Conv2d("c1", ("x",), r.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), None, padding=1),
        ir.IF("n1", ("c1",), threshold=np.float32(0.7)),
        ir.AvgPool2d("pool", ("n1",), kernel=2),
        ir.Flatten("flat", ("pool",)),
        ir.Linear("fc", ("flat",), r.normal(0, 0.3, (3, 36)).astype(np.float32))), ("fc",), name="tiny")
    save_network(snn, tmp_path / "snn")
    x = r.uniform(0, 1, (10, 1, 6, 6)).astype(np.float32)
    save_data(tmp_path / "data.npz", Dataset(x, r.integers(0, 3, 10), "d"))
    return tmp_path


def test_quantize_writes_integer_network_with_scales(files):
    q, text = run(["quantize", str(files / "snn"), "--weight-bits", "6", "--threshold-bits", "12",
                   "--per-channel", "--calib", str(files / "data.npz"), "-T", "4", "-o", str(files / "q")])
    back = load_quantized(files / "q")
    assert back.weight_bits == 6 and back.per_channel and back.threshold_bits == 12
    assert np.array_equal(back.network.node("c1").weight, q.network.node("c1").weight)
    meta = load_metadata(files / "q")
    assert meta["calibration"]["samples"] == 10 and meta["calibration"]["overflows"] == 0
    assert meta["input_scale"] == pytest.approx(float(np.load(files / "data.npz")["x"].max()) / 255)
    assert "c1" in meta["layer_scales"] and "fc" in meta["output_scales"]
    assert "wrote" in text and "membrane overflows" in text
    assert not any(p.name.startswith(".q") for p in files.iterdir())  # atomic: no leftovers


def test_accel_prints_model_and_paper_figures(files):
    run(["quantize", str(files / "snn"), "-o", str(files / "q")])
    report, text = run(["accel", str(files / "q"), "--hw", "pynq-z2-accel", "--data", str(files / "data.npz"),
                        "--timesteps", "4", "--json", str(files / "r.json")])
    for label in ("cycles / inference", "latency / inference", "effective GOPS", "GOPS / PE", "GOPS / DSP",
                  "GOPS / W", "energy / inference", "38.4", "0.60"):
        assert label in text
    figures = json.loads((files / "r.json").read_text())
    assert figures["effective_gops"] == pytest.approx(report.effective_gops)
    assert figures["reference"]["gops"] == 38.4
    # a float SNN runs too (float spike trains), and --pes overrides the preset
    report, _ = run(["accel", str(files / "snn"), "--data", str(files / "data.npz"), "--pes", "8"])
    assert report.pes == 8


@pytest.mark.parametrize("argv, error, match", [
    (["quantize", "{d}/snn", "--weight-bits", "9", "-o", "{d}/q"], QuantizationError, r"weight_bits=9: must be in 2\.\.8"),
    (["quantize", "{d}/snn", "--threshold-bits", "1", "-o", "{d}/q"], QuantizationError, r"threshold_bits=1"),
    (["quantize", "{d}/missing", "-o", "{d}/q"], ModelFileError, "no such network folder"),
    (["quantize", "{d}/snn", "--calib", "{d}/nope.npz", "-o", "{d}/q"], InvalidDataError, "no such data file"),
    (["accel", "{d}/snn", "--hw", "nope", "--data", "{d}/data.npz"], InvalidHardwareSpecError,
     "nope: unknown accelerator"),
    (["accel", "{d}/snn", "--data", "digits:test"], InvalidDataError, r"does not match network input"),
])
def test_errors_are_spikeforge_errors(files, argv, error, match):
    argv = [a.format(d=files) for a in argv]
    with pytest.raises(error, match=match) as info:
        run(argv)
    assert isinstance(info.value, SpikeforgeError)
    assert not (files / "q").exists()


@pytest.mark.parametrize("argv, message", [
    (["quantize", "{d}/snn", "-T", "0", "--calib", "{d}/data.npz", "-o", "{d}/q"],
     "spikeforge quantize: error: argument --timesteps/-T: must be an integer ≥ 1, got 0"),
    (["accel", "{d}/snn", "--pes", "0", "--data", "{d}/data.npz"],
     "spikeforge accel: error: argument --pes: must be an integer ≥ 1, got 0"),
])
def test_bad_counts_are_usage_errors(files, capsys, argv, message):
    from spikeforge.cli import main

    assert main([a.format(d=files) for a in argv]) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (files / "q").exists()


def test_requantising_is_refused(files):
    run(["quantize", str(files / "snn"), "-o", str(files / "q")])
    with pytest.raises(QuantizationError, match="already quantised"):
        run(["quantize", str(files / "q"), "-o", str(files / "q2")])


@pytest.mark.parametrize("integer", [[], ["--integer"]])
def test_simulate_a_quantized_folder_scales_inputs_and_outputs(files, tmp_path, integer):
    """``spikeforge simulate`` on a ``quantize`` output feeds quantised inputs and rescales the read-out,
    so its accuracy is the integer simulation's, not chance."""
    from spikeforge.cli import main
    from spikeforge.datasets import load_data
    from spikeforge.quantize import simulate_integer

    q, _ = run(["quantize", str(files / "snn"), "--per-channel", "-o", str(files / "q")])
    data = load_data(files / "data.npz")
    expected = simulate_integer(q, data.x, 4).accuracy(data.y)
    report = tmp_path / "r.json"
    assert main(["simulate", str(files / "q"), "--data", str(files / "data.npz"), "-T", "4", *integer,
                 "--json", str(report)]) == 0
    assert json.loads(report.read_text())["accuracy"]["4"] == pytest.approx(expected)


def test_quantize_takes_a_nir_graph(tmp_path):
    """A NIR graph is a spiking network already: ``quantize`` reads it like a folder (leaky
    neurons and all); an ANN model file is still refused."""
    from spikeforge.frontends.nir import write_nir

    r = np.random.default_rng(1)
    snn = ir.Network((
        ir.Input("x", (), (5,)),
        ir.Linear("fc1", ("x",), r.normal(0, 0.5, (4, 5)).astype(np.float32)),
        ir.LIF("n1", ("fc1",), threshold=np.float32(1.0), beta=0.9, v_init=0.0),
        ir.Linear("fc2", ("n1",), r.normal(0, 0.5, (3, 4)).astype(np.float32))),
        ("fc2",), name="leaky")
    write_nir(snn, tmp_path / "leaky.nir")
    q, _ = run(["quantize", str(tmp_path / "leaky.nir"), "--weight-bits", "8", "-o", str(tmp_path / "q")])
    assert load_quantized(tmp_path / "q").network.node("n1").beta == q.network.node("n1").beta
    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="model.pt: no such network folder or .nir graph"):
        run(["quantize", str(tmp_path / "model.pt"), "-o", str(tmp_path / "q2")])
