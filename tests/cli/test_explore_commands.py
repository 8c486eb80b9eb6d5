"""CLI command ``codesign``: output files, the front, and one-line errors with nothing written."""

import csv

import numpy as np
import pytest
import torch

from spikeforge.cli import main
from spikeforge.convert.normalise import convert
from spikeforge.datasets import Dataset, digits, save_data
from spikeforge.frontends.model_file import save_model
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir.serialize import save_network
from spikeforge.models import build_model
from spikeforge.outputs import atomic_directory
from spikeforge.quantize import quantize, save_quantized

# torch on one thread, as in tests/explore (see its conftest): the tensors are tiny
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codesign")
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    model.eval()
    train, test = digits("train"), digits("test")
    snn = convert(import_torch(model, shape, name="digits-cnn"), train.x[:64])
    save_network(snn, folder / "snn")
    save_quantized(quantize(snn), folder / "snn8")
    save_model(folder / "model.pt", model, "digits-cnn")
    save_data(folder / "test.npz", test.take(12))
    save_data(folder / "calib.npz", train.take(32))
    save_data(folder / "wide.npz", Dataset(np.zeros((4, 1, 8, 9), np.float32), np.zeros(4, np.int64), "wide"))
    save_data(folder / "unlabelled.npz", Dataset(test.x[:4]))
    return folder


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_codesign_writes_sweep_front_and_plot(files, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["codesign", str(files / "snn"), "--data", str(files / "test.npz"), "--bits", "2,8",
               "--timesteps", "2,4", "--pes", "8,64", "-o", str(out), "--quiet"])
    assert rc == 0
    sweep_rows, front_rows = rows(out / "sweep.csv"), rows(out / "pareto.csv")
    assert len(sweep_rows) == 8 and 1 <= len(front_rows) <= 8
    assert {r["weight_bits"] for r in sweep_rows} == {"2", "8"} and {r["pes"] for r in sweep_rows} == {"8", "64"}
    assert sum(r["on_front"] == "1" for r in sweep_rows) == len(front_rows)
    assert all(r["on_front"] == "1" for r in front_rows)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "Pareto front" in text and "4 simulations for 8 design points" in text


def test_codesign_converts_a_model_file_and_maps_crossbars(files, tmp_path, capsys):
    out = tmp_path / "xbar"
    rc = main(["codesign", str(files / "model.pt"), "--calib", str(files / "calib.npz"), "--data",
               str(files / "test.npz"), "--samples", "6", "--bits", "8", "--timesteps", "2", "--hw", "xbar-mesh",
               "--crossbar-sizes", "128,256", "-o", str(out), "-q", "--cache", str(tmp_path / "cache")])
    assert rc == 0
    assert [r["crossbar_size"] for r in rows(out / "sweep.csv")] == ["128", "256"]
    assert "1 simulations for 2 design points" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


@pytest.mark.parametrize("extra, message", [
    (["--bits", "2,9"], r"bits[1]=9: must be in 2..8"),
    (["--bits", "2,x"], "argument --bits: expected comma-separated integers, e.g. 2,4,8, got '2,x'"),
    (["--timesteps", "0"], "timesteps[0] 0: must be ≥ 1"),
    (["--pes", "16,0"], "pes[1] 0: must be ≥ 1"),
    (["--pes", "16,16"], "pes: 16 given more than once"),
    (["--crossbar-sizes", "64"], "crossbar_sizes: accelerator pynq-z2-accel has no crossbars"),
    (["--hw", "nowhere"], "nowhere: unknown hardware; not a preset (crossbar chips: loihi"),
    (["--samples", "0"], "argument --samples: must be an integer ≥ 1, got 0"),
    (["--data", "WIDE"], "x: shape (4, 1, 8, 9) does not match network input (N, 1, 8, 8)"),
    (["--data", "UNLABELLED"], "labels: none given"),
    (["--net", "snn8"], "a quantised network"),
    (["--net", "model.pt"], "an ANN; pass --calib DATA"),
    (["--net", "missing"], "no such network folder or model file"),
])
def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(files, tmp_path, capsys, extra, message):
    net, args = "snn", []
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag == "--net":
            net = value
        else:
            args += [flag, str(files / f"{value.lower()}.npz") if value.isupper() else value]
    if "--data" not in args:
        args += ["--data", str(files / "test.npz")]
    out = tmp_path / "out"
    rc = main(["codesign", str(files / net), "--bits", "8", "--timesteps", "2", "-o", str(out), "-q", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("spikeforge codesign: error: ")
    assert message in err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("cache", ["OUT", "OUT/cache", "SNN", "SNN/cache"])
def test_a_cache_that_is_in_or_holds_the_output_or_an_input_is_refused_before_any_work(files, tmp_path, capsys,
                                                                                     cache):
    out = tmp_path / "out"
    cache_path = cache.replace("OUT", str(out)).replace("SNN", str(files / "snn"))
    before = sorted(p.name for p in (files / "snn").iterdir())
    rc = main(["codesign", str(files / "snn"), "--data", str(files / "test.npz"), "--bits", "8", "--timesteps", "2",
               "-o", str(out), "-q", "--cache", cache_path])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"cache {cache_path}: is, holds or lies inside the" in err
    assert not out.exists() and sorted(p.name for p in (files / "snn").iterdir()) == before


def test_a_seed_beyond_32_bits_is_a_usage_error(files, tmp_path, capsys):
    rc = main(["codesign", str(files / "snn"), "--search", "nsga2", "--seed", str(2**64), "-o", str(tmp_path / "o")])
    assert rc == 2 and "argument --seed: at most 4,294,967,295 is supported" in capsys.readouterr().err


def test_existing_output_survives_a_failed_run(files, tmp_path, capsys):
    out = tmp_path / "out"
    # an earlier output: the run may replace it, but fails first
    atomic_directory(out, lambda tmp: (tmp / "keep.txt").write_text("old"))
    rc = main(["codesign", str(files / "snn"), "--data", str(files / "test.npz"), "--bits", "1", "-o", str(out)])
    assert rc == 2 and "bits[0]=1" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "keep.txt").read_text() == "old"
