"""``spikeforge import`` / ``export`` of NIR graphs, and a ``.nir`` file wherever a model file goes
(``compile model.nir --hw loihi``, :func:`spikeforge.loaders.load_network`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spikeforge.cli import main
from spikeforge.frontends.nir import read_nir
from spikeforge.ir.serialize import load_network as load_folder
from spikeforge.loaders import load_network

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nir"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="the NIR paper's graphs (shared/data/nir) are not here")


def same(a, b) -> bool:
    return [type(n).__name__ for n in a.nodes] == [type(n).__name__ for n in b.nodes] and all(
        np.array_equal(getattr(m, "weight", 0), getattr(n, "weight", 0)) for m, n in zip(a.nodes, b.nodes))


def test_import_then_export_then_import(tmp_path, capsys):
    src = DATA / "braille_noDelay_bias_zero.nir"
    assert main(["import", str(src), "-o", str(tmp_path / "net")]) == 0
    net = load_folder(tmp_path / "net")
    assert same(net, read_nir(src))
    assert main(["export", str(tmp_path / "net"), "-o", str(tmp_path / "out.nir")]) == 0
    assert "wrote" in capsys.readouterr().out
    back = read_nir(tmp_path / "out.nir")
    assert [type(n).__name__ for n in back.nodes] == [type(n).__name__ for n in net.nodes]


def test_import_reset_and_dt_flags(tmp_path):
    assert main(["import", str(DATA / "cnn_sinabs.nir"), "-o", str(tmp_path / "net"), "--reset", "subtract"]) == 0
    assert {n.v_reset for n in load_folder(tmp_path / "net").nodes if n.is_neuron} == {None}
    meta = json.loads((tmp_path / "net" / "network.json").read_text())["metadata"]
    assert meta["nir"] == {"dt": 1e-4, "reset": "subtract"}


def test_export_warns_about_reset_by_subtraction(tmp_path, capsys):
    assert main(["import", str(DATA / "cnn_sinabs.nir"), "-o", str(tmp_path / "net"), "--reset", "subtract"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "net"), "-o", str(tmp_path / "a.nir")]) == 0
    assert "resets by subtraction" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["import", "missing.nir", "-o", "net"], "NIR file missing.nir: no such file"),
    (["import", "{data}/lif_norse.nir", "-o", "net", "--dt", "0.01"], "is not below the time constant"),
    (["export", "nothing", "-o", "a.nir"], "nothing: no such network folder"),
])
def test_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, match):
    monkeypatch.chdir(tmp_path)
    assert main([a.format(data=DATA) for a in argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not (tmp_path / "net").exists() and not (tmp_path / "a.nir").exists()


def test_nir_file_is_a_model_file():
    assert same(load_network(DATA / "lif_norse.nir"), read_nir(DATA / "lif_norse.nir"))


@pytest.mark.parametrize("file, shape", [("braille_noDelay_bias_zero.nir", (12,)), ("lif_norse.nir", (1,)),
                                         ("cnn_sinabs.nir", (2, 34, 34))])
def test_paper_graphs_compile_on_loihi_to_a_guarantee(tmp_path, capsys, file, shape):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=(rng.random((4, 8, *shape)) < 0.2).astype(np.float32))
    argv = ["compile", str(DATA / file), "--hw", "loihi", "--calib", str(tmp_path / "calib.npz"), "-T", "8",
            "-o", str(tmp_path / "art")]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "guaranteed throughput" in out and "energy per inference" in out
    assert (tmp_path / "art").is_dir()


def test_simulate_takes_a_nir_file(tmp_path, capsys):
    x = (np.random.default_rng(0).random((4, 8, 12)) < 0.3).astype(np.float32)
    np.savez(tmp_path / "spikes.npz", x=x)
    assert main(["simulate", str(DATA / "braille_noDelay_bias_zero.nir"), "--data", str(tmp_path / "spikes.npz"),
                 "-T", "8"]) == 0, capsys.readouterr().err
    assert "CubaLIF" in capsys.readouterr().out
