"""Regression tests of what the hostile campaign found on the entry points of issues 21–24
(``python -m bench.robustness --only nir,events,report,search,new-output,backends``).

Each refusal is checked by its message (``pytest.raises(..., match=...)``) or, on the command line,
by exit status 2, one line on stderr and nothing written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile.base import nmnist_bytes, recording
from hostile.generators import Evil, npy_bytes
from spikeforge.cli import main
from spikeforge.errors import InvalidDataError
from spikeforge.events import read_events, read_nmnist
from spikeforge.fileio import read_npy


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main([str(a) for a in argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err


def _save(path: Path, array: np.ndarray, **kw) -> Path:
    with open(path, "wb") as f:  # np.save(path) would add .npy to a .bin name
        np.save(f, array, **kw)
    return path


# --------------------------------------------------------------------------------------------
# events: .npy structured arrays beside N-MNIST files, never unpickled


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2 ** 16))
def test_npy_and_nmnist_recordings_read_the_same(tmp_path_factory, n, seed):
    folder = tmp_path_factory.mktemp("rec")
    events = recording(n, seed)
    (folder / "r.bin").write_bytes(nmnist_bytes(events))
    _save(folder / "r.npy", events)
    from_bin, from_npy = read_events(folder / "r.bin"), read_events(folder / "r.npy")
    assert from_bin.dtype == from_npy.dtype
    assert np.array_equal(from_bin, from_npy)
    assert np.array_equal(from_bin, read_nmnist(folder / "r.bin"))


def test_npy_of_python_objects_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "PICKLED_CODE_RAN"
    path = _save(tmp_path / "r.npy", np.array([Evil(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidDataError, match=r"r\.npy: holds Python objects .* refused"):
        read_events(path)
    assert not marker.exists()


def _outside_sensor() -> np.ndarray:
    events = recording(5)
    events["x"][2] = 40
    return events


@pytest.mark.parametrize("make, match", [
    (lambda: np.ones((3, 4)), r"an array of dtype float64 and shape \(3, 4\); expected a structured array"),
    (lambda: recording(5)[["t", "x", "y"]].copy(), r"r\.npy: no field 'p'"),
    (_outside_sensor, r"r\.npy: 1 of 5 events outside the 34×34 sensor \(x up to 40"),
])
def test_npy_that_is_not_events_is_refused(tmp_path, make, match):
    with pytest.raises(InvalidDataError, match=match):
        read_events(_save(tmp_path / "r.npy", make()))


def test_npy_header_declaring_more_than_the_file_holds_is_refused_before_reading(tmp_path):
    path = tmp_path / "r.npy"
    path.write_bytes(npy_bytes((10 ** 12,), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")]))
    with pytest.raises(InvalidDataError, match=r"declares shape \(1000000000000,\) .* but holds 64 B"):
        read_events(path)
    with pytest.raises(InvalidDataError, match=r"events .*/c\.npy: not an \.npy array, or truncated \(EOF"):
        read_npy(_write(tmp_path / "c.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr': <f4"), "events",
                 error=InvalidDataError)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_cli_events_info_and_frames_take_npy(tmp_path, capsys):
    events = recording(50, 3)
    _save(tmp_path / "r.npy", events)
    (tmp_path / "r.bin").write_bytes(nmnist_bytes(events))
    assert main(["events", "info", str(tmp_path / "r.npy")]) == 0
    assert "50" in capsys.readouterr().out
    out = tmp_path / "d.npz"
    assert main(["events", "frames", str(tmp_path / "r.npy"), str(tmp_path / "r.bin"), "-T", "4", "-o", str(out)]) == 0
    with np.load(out) as d:
        assert d["x"].shape == (2, 4, 2, 34, 34)
        assert np.array_equal(d["x"][0], d["x"][1])


def test_cli_events_frames_refuses_a_pickled_npy_in_one_line_writing_nothing(tmp_path, capsys):
    marker = tmp_path / "PICKLED_CODE_RAN"
    _save(tmp_path / "r.npy", np.array([Evil(str(marker))], dtype=object), allow_pickle=True)
    code, err = _cli(capsys, "events", "frames", tmp_path / "r.npy", "-T", "4", "-o", tmp_path / "d.npz")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("spikeforge events: error: events file") and "Python objects" in err[0]
    assert not marker.exists() and not (tmp_path / "d.npz").exists()


# --------------------------------------------------------------------------------------------
# reports: a path that is not UTF-8


def test_report_of_and_to_non_utf8_paths_is_written(tmp_path, capsys):
    from hostile.base import GRAPH_XML

    source, out = (os.fsdecode(os.fsencode(tmp_path) + name) for name in (b"/g\xff.xml", b"/r\xfe.html"))
    Path(source).write_text(GRAPH_XML)
    assert main(["report", source, "-o", out]) == 0
    assert "g\\udcff.xml" in Path(out).read_text(encoding="utf-8")
    assert "r\\udcfe.html" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# map takes a NIR graph, as the README says of every command taking a model


def test_map_takes_a_nir_graph(tmp_path, capsys):
    import warnings

    from spikeforge.frontends.nir import write_nir
    from spikeforge.ir import network as ir

    net = ir.Network((ir.Input("x", (), (1, 4, 4)), ir.Flatten("f", ("x",)),
                      ir.Linear("l", ("f",), np.full((8, 16), 0.2, np.float32)),
                      ir.IF("s", ("l",), threshold=np.float32(1.0))), ("s",), name="n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_nir(net, tmp_path / "n.nir")
    # a NIR graph takes temporal input: x (N, T, 1, 4, 4)
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((4, 2, 1, 4, 4), dtype=np.float32))
    code = main(["map", str(tmp_path / "n.nir"), "--hw", "xbar-mesh", "--calib", str(tmp_path / "d.npz"),
                 "-o", str(tmp_path / "p.json"), "-T", "2", "--samples", "4"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "p.json").is_file()


# --------------------------------------------------------------------------------------------
# outputs: a loop of symbolic links as an input or as the output


def test_output_check_with_a_link_loop(tmp_path):
    from spikeforge.errors import OutputPathError
    from spikeforge.outputs import check_output_file, check_output_folder

    (tmp_path / "loop").symlink_to("loop")
    assert check_output_file(tmp_path / "o.npz", (tmp_path / "loop",)) == tmp_path / "o.npz"
    with pytest.raises(OutputPathError, match=r"output .*loop: a loop of symbolic links; choose another path"):
        check_output_file(tmp_path / "loop")
    with pytest.raises(OutputPathError, match=r"output .*loop: exists and is a file or a link"):
        check_output_folder(tmp_path / "loop")


def test_cli_events_frames_of_a_link_loop_is_one_line(tmp_path, capsys):
    (tmp_path / "loop.bin").symlink_to("loop.bin")
    code, err = _cli(capsys, "events", "frames", tmp_path / "loop.bin", "-T", "4", "-o", tmp_path / "d.npz")
    assert code == 2 and len(err) == 1 and err[0].startswith("spikeforge events: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.bin"]


def test_cli_report_option_with_an_empty_name_is_refused(tmp_path, capsys):
    from hostile.base import GRAPH_XML

    (tmp_path / "g.xml").write_text(GRAPH_XML)
    code, err = _cli(capsys, "analyse", tmp_path / "g.xml", "--json", tmp_path / "r.json", "--report", "")
    assert code == 2 and err == ["spikeforge analyse: error: output path is empty; name a file or folder"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.xml"]


def test_unwritable_file_outputs_are_refused_before_any_work(tmp_path):
    from hostile.generators import immutable
    from spikeforge.errors import OutputPathError
    from spikeforge.outputs import check_output_file

    (tmp_path / "ro").mkdir()
    (tmp_path / "mine.html").write_text("my page")
    undo = [immutable(tmp_path / "ro"), immutable(tmp_path / "mine.html")]
    if None in undo:
        for u in undo:
            u and u()
        pytest.skip("chattr +i is not supported here")
    try:
        with pytest.raises(OutputPathError, match=r"ro/a/r\.html: cannot write \(folder .*ro is read-only or not ours\)"):
            check_output_file(tmp_path / "ro" / "a" / "r.html")
        with pytest.raises(OutputPathError, match=r"mine\.html: cannot write \(the file is read-only or immutable\)"):
            check_output_file(tmp_path / "mine.html")
    finally:
        for u in undo:
            u()
    assert (tmp_path / "mine.html").read_text() == "my page"


def test_simulate_refuses_json_and_neurobench_at_one_path(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 8, 8), np.float32))
    code, err = _cli(capsys, "simulate", "nothing", "--data", tmp_path / "d.npz", "--json", tmp_path / "r.json",
                     "--neurobench", tmp_path / "./r.json")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("spikeforge simulate: error: --json ") and "the same file" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


# --------------------------------------------------------------------------------------------
# report of a damaged co-design sweep


def _sweep_row(**changes) -> dict:
    row = {"weight_bits": "8", "timesteps": "2", "pes": "16", "crossbar_size": "", "accuracy": "0.5",
           "latency_s": "6e-06", "energy_j": "9e-06", "synops": "16037", "effective_gops": "2.6", "crossbars": "",
           "on_front": "1", "knobs": ""}
    return row | changes


@pytest.mark.parametrize("changes, match", [
    ({"accuracy": "nan"}, r"row 2: accuracy nan is not in \[0, 1\]"),
    ({"accuracy": "7"}, r"row 2: accuracy 7.0 is not in \[0, 1\]"),
    ({"latency_s": "-1"}, r"row 2: latency_s -1.0 is not in \[0, ∞\]"),
    ({"energy_j": "inf"}, r"row 2: energy_j inf is not in \[0, ∞\]"),
    ({"weight_bits": "0"}, r"row 2: bits 0 is not in \[1, 64\]"),
    ({"pes": "-4"}, r"row 2: size -4 is not in \[1, ∞\]"),
])
def test_sweep_report_refuses_damaged_figures(changes, match):
    from spikeforge.errors import ModelFileError
    from spikeforge.report.sources import sweep_page

    assert sweep_page([_sweep_row()], "cs").kind == "codesign"
    with pytest.raises(ModelFileError, match=r"^cs: " + match + r" \(a damaged co-design sweep\)$"):
        sweep_page([_sweep_row(**changes)], "cs")


def test_cli_report_of_a_sweep_with_nan_accuracy_is_one_line(tmp_path, capsys):
    import csv

    (tmp_path / "cs").mkdir()
    with open(tmp_path / "cs" / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(_sweep_row()))
        writer.writeheader()
        writer.writerow(_sweep_row(accuracy="nan"))
    code, err = _cli(capsys, "report", tmp_path / "cs", "-o", tmp_path / "r.html")
    assert code == 2 and len(err) == 1 and "accuracy nan is not in [0, 1]" in err[0]
    assert not (tmp_path / "r.html").exists()


def test_cli_report_option_beside_an_output_that_is_a_link_loop(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("loop").symlink_to("loop")
    code, err = _cli(capsys, "compile", "model.pt", "--hw", "xbar-mesh", "--calib", "digits", "-o", "loop",
                     "--report", "r.html")
    assert code == 2 and len(err) == 1 and err[0].startswith("spikeforge compile: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop"]


# --------------------------------------------------------------------------------------------
# report of a damaged placement JSON


def _placement(**changes) -> dict:
    from spikeforge.report.runs import PLACEMENT_FORMAT

    piece = {"layer": "a", "part": 0, "channels": [0, 1], "rows": [0, 2], "cols": [0, 2]}
    cluster = {"core": 0, "columns": 4, "spikes_per_timestep": 1.5, "synapses": 8, "pieces": [piece]}
    doc = {"format": PLACEMENT_FORMAT, "hardware": "xbar-mesh", "chips": 1, "timesteps": 2,
           "clusters": [cluster, cluster | {"core": 1}], "edges": [[0, 1, 2.0]],
           "report": {"time_s": 1e-6, "spike_hops": 3.0, "energy_j": {"total": 1e-9}}}
    return doc | changes


@pytest.mark.parametrize("change, match", [
    (lambda d: d["clusters"][1].update(spikes_per_timestep=float("nan")), r"a cluster's columns, spikes per timestep"),
    (lambda d: d["clusters"][0].update(synapses=-5), r"a cluster's columns, spikes per timestep or synapses negative"),
    (lambda d: d.update(edges=[[0, 1, -4.0]]), r"an edge's traffic negative, NaN or infinite"),
    (lambda d: d.update(timesteps=-2), r"timesteps -2: expected an integer ≥ 1"),
    (lambda d: d["report"].update(time_s=float("inf")), r"report\.time_s inf: a figure must be finite and ≥ 0"),
    (lambda d: d["report"]["energy_j"].update(total=float("nan")), r"report\.energy_j\.total nan: a figure must"),
])
def test_placement_report_refuses_damaged_figures(change, match):
    from spikeforge.errors import ModelFileError
    from spikeforge.report.runs import placement_page

    assert placement_page(_placement(), "p.json").kind == "map"
    doc = _placement()
    change(doc)
    with pytest.raises(ModelFileError, match=r"^p\.json: " + match):
        placement_page(doc, "p.json")


# --------------------------------------------------------------------------------------------
# NeuroBench metrics: a scale that would decide every answer, and values JSON cannot hold


def _tiny_snn():
    from spikeforge.ir import network as ir

    return ir.Network((ir.Input("x", (), (1, 2, 2)), ir.Flatten("f", ("x",)),
                       ir.Linear("l", ("f",), np.full((3, 4), 0.5, np.float32)),
                       ir.IF("s", ("l",), threshold=np.float32(1.0)),
                       ir.Linear("o", ("s",), np.eye(3, dtype=np.float32))), ("o",), name="tiny")


@pytest.mark.parametrize("scale, match", [
    (float("nan"), r"output_scale \[nan\] \(shape \(\)\): expected one or 3 finite values > 0"),
    (0.0, r"output_scale \[0\.\] \(shape \(\)\)"),
    ([1.0, 2.0], r"output_scale \[1\. 2\.\] \(shape \(2,\)\): expected one or 3"),
    (["big"], r"output_scale \['big'\]: not numbers"),
])
def test_neurobench_refuses_a_bad_output_scale(scale, match):
    from spikeforge.neurobench import neurobench_metrics

    x, y = np.ones((2, 1, 2, 2), np.float32), np.array([0, 1])
    assert 0 <= neurobench_metrics(_tiny_snn(), x, y, timesteps=2, output_scale=[1.0, 1.0, 2.0])[
        "ClassificationAccuracy"] <= 1
    with pytest.raises(InvalidDataError, match=r"^neurobench_metrics: " + match):
        neurobench_metrics(_tiny_snn(), x, y, timesteps=2, output_scale=scale)


@pytest.mark.parametrize("value, match", [(float("nan"), "Out of range float values are not JSON compliant: nan"),
                                          (object(), "object is not JSON serialisable")])
def test_write_neurobench_refuses_values_json_cannot_hold(tmp_path, value, match):
    from spikeforge.neurobench import write_neurobench

    (tmp_path / "nb.json").write_text("mine")
    with pytest.raises(InvalidDataError, match=r"nb\.json: " + match + "; nothing written"):
        write_neurobench(tmp_path / "nb.json", {"Footprint": 10, "x": value})
    assert (tmp_path / "nb.json").read_text() == "mine"
