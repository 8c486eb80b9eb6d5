import json
import re
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch

from spikeforge.cli import main
from spikeforge.datasets import Dataset, digits, save_data
from spikeforge.errors import ModelFileError
from spikeforge.frontends.model_file import load_model, save_model
from spikeforge.models import build_model


class Evil:
    def __reduce__(self):
        return (print, ("this ran while unpickling",))


@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn")
    save_model(tmp_path / "model.pt", model, "digits-cnn")
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    data = digits("test").take(40)
    save_data(tmp_path / "data.npz", data)
    return tmp_path


def test_convert_inspect_simulate(files, capsys):
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "-o",
                 str(files / "snn")]) == 0
    assert (files / "snn" / "network.json").is_file()
    assert main(["inspect", str(files / "snn")]) == 0
    assert "IF" in capsys.readouterr().out
    assert main(["simulate", str(files / "snn"), "--data", str(files / "data.npz"), "-T", "4",
                 "--json", str(files / "r.json")]) == 0
    report = json.loads((files / "r.json").read_text())
    assert report["timesteps"] == 4 and set(report["accuracy"]) == {"1", "2", "4"}


def test_bare_state_dict_needs_arch(files, capsys):
    assert main(["inspect", str(files / "bare.pt")]) == 2
    assert "name its architecture (--arch)" in capsys.readouterr().err
    assert main(["inspect", str(files / "bare.pt"), "--arch", "digits-cnn"]) == 0


def test_pickled_code_is_refused_and_nothing_written(files, capsys):
    torch.save({"architecture": "digits-cnn", "state_dict": OrderedDict(evil=Evil())}, files / "evil.pt")
    code = main(["convert", str(files / "evil.pt"), "--calib", str(files / "data.npz"), "-o", str(files / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert "refused to unpickle" in captured.err and "this ran" not in captured.out
    assert len(captured.err.strip().splitlines()) == 1
    assert not (files / "out").exists()


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_text("not a model"), "not a PyTorch model file"),
    (lambda p: torch.save([1, 2], p), "holds a list"),
    (lambda p: torch.save({"architecture": "nope", "state_dict": {}}, p), "unknown architecture 'nope'"),
    (lambda p: torch.save({"architecture": "mlp", "state_dict": {"w": torch.ones(2)}}, p), "do not fit"),
])
def test_model_file_errors(tmp_path, make, match):
    path = tmp_path / "m.pt"
    make(path)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.pt")


def test_wrong_calibration_shape_writes_nothing(files, capsys):
    save_data(files / "wrong.npz", Dataset(np.zeros((5, 3, 8, 8), np.float32)))
    code = main(["convert", str(files / "model.pt"), "--calib", str(files / "wrong.npz"), "-o", str(files / "o")])
    assert code == 2
    assert "does not match network input (N, 1, 8, 8)" in capsys.readouterr().err
    assert not (files / "o").exists()


def test_empty_and_bad_data_files(files, capsys):
    np.savez(files / "nox.npz", y=np.zeros(3))
    assert main(["simulate", str(files / "model.pt"), "--data", str(files / "nox.npz")]) == 2
    assert "no array 'x'" in capsys.readouterr().err
    np.savez(files / "nan.npz", x=np.full((2, 1, 8, 8), np.nan))
    assert main(["simulate", str(files / "model.pt"), "--data", str(files / "nan.npz")]) == 2
    assert "NaN or Inf" in capsys.readouterr().err


def test_simulating_an_ann_is_an_error(files, capsys):
    assert main(["simulate", str(files / "model.pt"), "--data", str(files / "data.npz")]) == 2
    assert "convert it first" in capsys.readouterr().err


def test_cli_process_exit_code_and_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "spikeforge.cli", "inspect", str(tmp_path / "nothing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"spikeforge inspect: error: {tmp_path / 'nothing'}: no such network folder or model file"


def test_convert_with_bias_calibration(files):
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "-o", str(files / "c"),
                 "--bias-calibration", "4"]) == 0
    from spikeforge.ir.serialize import load_metadata

    assert load_metadata(files / "c")["bias_calibration_timesteps"] == 4


@pytest.mark.parametrize("argv, match", [
    (["--samples", "0"], "argument --samples: must be an integer ≥ 1, got 0"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer ≥ 1, got 0"),
    (["--batch-size", "-1"], "argument --batch-size: must be an integer ≥ 1, got -1"),
    (["-T", "100000"], "argument --timesteps/-T: at most 65,536 is supported, got 100,000"),
])
def test_simulate_rejects_bad_counts(files, capsys, argv, match):
    assert main(["simulate", str(files / "model.pt"), "--data", str(files / "data.npz"), *argv]) == 2
    assert match in capsys.readouterr().err


def test_outputs_never_overwrite_foreign_files(files, capsys):
    keep = files / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("do not lose")
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "-o", str(keep)]) == 2
    assert "spikeforge did not write" in capsys.readouterr().err
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "--calib-samples", "0",
                 "-o", str(files / "snn")]) == 2
    assert "argument --calib-samples: must be an integer ≥ 1, got 0" in capsys.readouterr().err
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "-o",
                 str(files / "snn")]) == 0
    assert main(["simulate", str(files / "snn"), "--data", str(files / "data.npz"), "--json", str(keep)]) == 2
    assert "is a folder; name a file" in capsys.readouterr().err
    assert main(["map", str(files / "snn"), "--hw", "loihi", "--calib", str(files / "data.npz"),
                 "-o", str(keep)]) == 2
    assert "is a folder; name a file" in capsys.readouterr().err
    assert main(["accel", str(files / "snn"), "--data", str(files / "data.npz"), "--json",
                 str(keep / "notes.txt" / "r.json")]) == 2
    assert "notes.txt is a file, not a folder" in capsys.readouterr().err
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]


def test_file_outputs_make_missing_folders_as_folder_outputs_do(files):
    assert main(["convert", str(files / "model.pt"), "--calib", str(files / "data.npz"), "-o",
                 str(files / "new" / "snn")]) == 0
    placement = files / "new" / "maps" / "loihi.json"
    assert main(["map", str(files / "new" / "snn"), "--hw", "loihi", "--calib", str(files / "data.npz"),
                 "-o", str(placement)]) == 0
    assert json.loads(placement.read_text())


def test_weights_of_another_architecture_name_the_keys(files):
    with pytest.raises(ModelFileError, match=r"weights do not fit architecture 'lenet5': .*(Missing|Unexpected) key"):
        load_model(files / "bare.pt", "lenet5")


def test_qcfs_model_still_checks_calibration_data(files, capsys):
    model, _ = build_model("digits-cnn", qcfs_levels=4)
    save_model(files / "qcfs.pt", model, "digits-cnn", {"qcfs_levels": 4})
    save_data(files / "wrong.npz", Dataset(np.zeros((5, 1, 28, 28), np.float32)))
    assert main(["convert", str(files / "qcfs.pt"), "--calib", str(files / "wrong.npz"), "-o", str(files / "o")]) == 2
    assert "wrong.npz: shape (5, 1, 28, 28) does not match network input (N, 1, 8, 8)" in capsys.readouterr().err
    assert not (files / "o").exists()


def test_usage_errors_are_one_line(capsys):
    for argv, message in ((["frobnicate"], r"spikeforge: error: argument COMMAND: invalid choice"),
                          (["simulate", "x", "--data", "d", "-T", "eight"],
                           r"spikeforge simulate: error: argument --timesteps/-T: must be an integer, got 'eight'"),
                          (["demo", "--epochs", "1000000000"],
                           r"spikeforge demo: error: argument --epochs: at most 1,000 is supported")):
        status = main(argv)
        err = capsys.readouterr().err
        assert status == 2 and err.count("\n") == 1 and re.match(message, err), err


def test_help_and_analyse_do_not_import_torch(tmp_path):
    """Start-up: ``--help`` imports nothing heavy, ``analyse`` no torch (nor beartype, pydantic)."""
    from bench.cli_startup import HEAVY, PROBE, small_graph

    (tmp_path / "g.xml").write_text(small_graph())
    for argv, allowed in ((["--help"], set()), (["analyse", str(tmp_path / "g.xml")], {"numpy", "rich"})):
        proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                              capture_output=True, text=True, check=True)
        assert set(json.loads(proc.stderr.strip().splitlines()[-1])) <= allowed, (argv, proc.stderr)
