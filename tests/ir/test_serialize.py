import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.errors import ModelFileError, OutputPathError
from spikeforge.ir.network import IF, Add, Conv2d, Flatten, Input, Linear, Network
from spikeforge.ir.serialize import load_metadata, load_network, save_network
from spikeforge.outputs import OUTPUT_MARKER, write_json_atomic


def residual_snn(c: int, h: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network((
        Input("x", (), (c, h, h)),
        Conv2d("c1", ("x",), rng.normal(size=(c, c, 3, 3)).astype(np.float32), rng.normal(size=c).astype(np.float32),
               padding=1),
        IF("s1", ("c1",), threshold=rng.uniform(0.5, 2, size=c).astype(np.float32), v_init=0.25),
        Add("a", ("s1", "x"), gains=(None, rng.uniform(0.1, 1, size=c).astype(np.float32))),
        Flatten("f", ("a",)),
        Linear("fc", ("f",), rng.normal(size=(3, c * h * h)).astype(np.float32), None),
    ), outputs=("fc",), name=f"net{seed}")


def assert_same(a: Network, b: Network) -> None:
    assert a.name == b.name and a.outputs == b.outputs
    assert [type(n) for n in a.nodes] == [type(n) for n in b.nodes]
    for x, y in zip(a.nodes, b.nodes):
        for field in x.__dataclass_fields__:
            u, v = getattr(x, field), getattr(y, field)
            if isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            elif field == "gains" and u is not None:
                for g, h in zip(u, v):
                    assert (g is None and h is None) or np.array_equal(g, h)
            else:
                assert u == v, field


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=st.integers(1, 4), h=st.integers(2, 6), seed=st.integers(0, 1000))
def test_round_trip(tmp_path, c, h, seed):
    net = residual_snn(c, h, seed)
    loaded = load_network(save_network(net, tmp_path / f"n{seed}_{c}_{h}", {"k": 1}))
    assert_same(net, loaded)
    assert load_metadata(tmp_path / f"n{seed}_{c}_{h}") == {"k": 1}


def test_save_replaces_existing_folder_only_when_complete(tmp_path, monkeypatch):
    net = residual_snn(2, 3, 0)
    dest = save_network(net, tmp_path / "net")
    import spikeforge.ir.serialize as ser

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ser.np, "savez", broken)
    with pytest.raises(OutputPathError, match=r"net: cannot write \(disk full\)"):
        save_network(residual_snn(2, 3, 1), dest)
    monkeypatch.undo()
    assert load_network(dest).name == "net0"  # the old network is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]  # no temporary left behind


def test_load_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no network.json"):
        load_network(tmp_path)
    (tmp_path / "network.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_network(tmp_path)
    (tmp_path / "network.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ModelFileError, match="format is 'other'"):
        load_network(tmp_path)
    (tmp_path / "network.json").write_text(json.dumps({"format": "spikeforge.network", "version": 99}))
    with pytest.raises(ModelFileError, match="format version 99"):
        load_network(tmp_path)


def test_load_rejects_unknown_node_and_corrupt_arrays(tmp_path):
    folder = save_network(residual_snn(2, 3, 0), tmp_path / "net")
    doc = json.loads((folder / "network.json").read_text())
    doc["nodes"][1]["type"] = "Softmax"
    (folder / "network.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="unknown type 'Softmax'"):
        load_network(folder)
    (folder / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot read arrays"):
        load_network(folder)


def test_output_folder_guard(tmp_path, monkeypatch):
    net = residual_snn(2, 3, 0)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(OutputPathError, match=r"notes: a folder of 1 entries that spikeforge did not write"):
        save_network(net, foreign)
    assert (foreign / "keep.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="exists and is a file or a link, not a folder"):
        save_network(net, tmp_path / "file")
    work = tmp_path / "work"
    work.mkdir()
    save_network(net, work / "out")
    monkeypatch.chdir(work / "out")
    with pytest.raises(OutputPathError, match="is the working directory or holds it"):
        save_network(net, work)
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_network(save_network(net, empty)).name == net.name  # an empty folder is fine
    dest = save_network(residual_snn(2, 3, 1), empty)  # and so is an earlier output (it has the marker)
    assert (dest / OUTPUT_MARKER).is_file() and load_network(dest).name == "net1"
    (dest / OUTPUT_MARKER).unlink()  # a network.json alone does not prove the folder is spikeforge's
    with pytest.raises(OutputPathError, match=r"a folder of 2 entries that spikeforge did not write"):
        save_network(net, dest)
    assert load_network(dest).name == "net1"


def test_json_output_guard(tmp_path):
    with pytest.raises(OutputPathError, match="is a folder; name a file"):
        write_json_atomic(tmp_path, {})
    (tmp_path / "f").write_text("kept")
    with pytest.raises(OutputPathError, match="f is a file, not a folder"):
        write_json_atomic(tmp_path / "f" / "sub" / "r.json", {})
    assert (tmp_path / "f").read_text() == "kept"
    assert json.loads(write_json_atomic(tmp_path / "r.json", {"a": np.float32(0.5)}).read_text()) == {"a": 0.5}
    made = write_json_atomic(tmp_path / "new" / "sub" / "r.json", {"a": np.arange(2)})  # parents made, as for folders
    assert json.loads(made.read_text()) == {"a": [0, 1]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "new", "r.json"]
    with pytest.raises(OutputPathError, match="cannot write .File name too long"):
        write_json_atomic(tmp_path / ("x" * 300) / "r.json", {})
    with pytest.raises(OutputPathError, match="cannot write .File name too long"):
        save_network(residual_snn(2, 3, 1), tmp_path / ("x" * 300))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "new", "r.json"]


def test_outputs_get_the_umask_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        folder = save_network(residual_snn(2, 3, 0), tmp_path / "net")
        report = write_json_atomic(tmp_path / "r.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750  # not mkdtemp's owner-only 0o700
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
