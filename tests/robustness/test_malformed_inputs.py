"""Malformed networks, model files and data give one-line named errors, never a traceback.

A network is held to one set of rules whether it is built in Python, loaded from a folder or
edited by hand: the node dataclasses check their own fields, and ``load_network`` reports a
violation as a :class:`ModelFileError` naming the folder, the node and the field. Model files
and data files are checked (kind, size, declared shapes against memory) before they are read.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikeforge.resources
from spikeforge.datasets import load_data
from spikeforge.errors import (InvalidDataError, InvalidNetworkError, ModelFileError, ResourceError, ShapeError,
                               SpikeforgeError)
from spikeforge.frontends.model_file import load_model, save_model
from spikeforge.ir.network import (IF, LIF, Add, AvgPool2d, Concat, Conv2d, ConvTranspose2d, Flatten, Input,
                                   Linear, MaxPool2d, Network, ReLU, SparseLinear, Upsample)
from spikeforge.ir.serialize import load_metadata, load_network, save_network
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate

_f32 = np.float32


def base_network() -> Network:
    """A small SNN with one node of (nearly) every type, which simulates."""
    rng = np.random.default_rng(0)

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(_f32)

    return Network((
        Input("x", (), (2, 4, 4)),
        Conv2d("c1", ("x",), normal(3, 2, 3, 3), normal(3), padding=1),
        IF("s1", ("c1",), threshold=np.full(3, 0.5, _f32)),
        MaxPool2d("p1", ("s1",), kernel=2),
        Upsample("u1", ("p1",), scale=2),
        Concat("cat", ("u1", "s1")),
        ConvTranspose2d("t1", ("cat",), normal(6, 2, 2, 2), None, stride=2),
        LIF("s2", ("t1",), threshold=1.0, beta=0.9),
        AvgPool2d("a1", ("s2",), kernel=2),
        Add("add", ("a1", "x"), gains=(None, np.full(2, 0.5, _f32))),
        IF("s3", ("add",), threshold=1.0),
        Flatten("f", ("s3",)),
        SparseLinear("sp", ("f",), pre=np.arange(10), post=np.arange(10) % 5, weight=normal(10), n_out=5),
        IF("s4", ("sp",), threshold=0.5),
        Linear("fc", ("s4",), normal(3, 5), normal(3)),
    ), ("fc",), name="base")


SAMPLES = np.random.default_rng(1).random((2, 2, 4, 4), dtype=_f32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return save_network(base_network(), tmp_path_factory.mktemp("nets") / "base")


def copy_of(saved: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("network.json", "arrays.npz"):
        (dest / name).write_bytes((saved / name).read_bytes())
    return dest


def edit(folder: Path, change) -> Path:
    doc = json.loads((folder / "network.json").read_text())
    change(doc)
    (folder / "network.json").write_text(json.dumps(doc))
    return folder


def node_index(doc: dict, name: str) -> int:
    return next(i for i, n in enumerate(doc["nodes"]) if n["name"] == name)


# -- the node dataclasses check their own fields ---------------------------------------------------

W = np.ones((3, 4), _f32)
K = np.ones((2, 1, 3, 3), _f32)


@pytest.mark.parametrize("build,error,match", [
    (lambda: Linear(5, ("x",), W), InvalidNetworkError, r"Linear layer name: 5 is not a non-empty string"),
    (lambda: Linear("", ("x",), W), InvalidNetworkError, r"name: '' is not a non-empty string"),
    (lambda: Linear("fc", "x", W), InvalidNetworkError, r"layer fc.inputs: 'x' is not a tuple of layer names"),
    (lambda: Linear("fc", (1,), W), InvalidNetworkError, r"fc.inputs: \(1,\) is not a tuple of layer names"),
    (lambda: Linear("fc", ("x",), None), InvalidNetworkError, r"layer fc.weight: missing"),
    (lambda: Linear("fc", ("x",), np.array([["a", "b"]])), InvalidNetworkError,
     r"fc.weight: values must be numbers, not <U1"),
    (lambda: Linear("fc", ("x",), np.array([[1 + 2j]])), InvalidNetworkError, r"fc.weight: values must be numbers, not complex"),
    (lambda: Linear("fc", ("x",), np.array([[{}]], dtype=object)), InvalidNetworkError, "not object"),
    (lambda: Linear("fc", ("x",), [[1.0], [2.0, 3.0]]), InvalidNetworkError, r"fc.weight: not an array"),
    (lambda: Linear("fc", ("x",), np.ones(4, _f32)), ShapeError, r"fc.weight: shape \(4,\) is 1-D, must be 2-D"),
    (lambda: Linear("fc", ("x",), np.ones((0, 4), _f32)), ShapeError, r"fc.weight: shape \(0, 4\) is empty"),
    (lambda: Linear("fc", ("x",), W, np.ones((3, 1), _f32)), ShapeError, r"fc.bias: shape \(3, 1\) is 2-D, must be 1-D"),
    (lambda: Conv2d("c", ("x",), K, stride=0), InvalidNetworkError, r"layer c.stride: 0 must be ≥ 1"),
    (lambda: Conv2d("c", ("x",), K, stride=(1, -2)), InvalidNetworkError, r"c.stride: -2 must be ≥ 1"),
    (lambda: Conv2d("c", ("x",), K, stride="2"), InvalidNetworkError, r"c.stride: '2' is neither an integer nor a pair"),
    (lambda: Conv2d("c", ("x",), K, stride=2.0), InvalidNetworkError, r"c.stride: 2.0 is neither an integer nor a pair"),
    (lambda: Conv2d("c", ("x",), K, stride=(1, 2, 3)), InvalidNetworkError, r"neither an integer nor a pair"),
    (lambda: Conv2d("c", ("x",), K, padding=-1), InvalidNetworkError, r"c.padding: -1 must be ≥ 0"),
    (lambda: Conv2d("c", ("x",), K, dilation=0), InvalidNetworkError, r"c.dilation: 0 must be ≥ 1"),
    (lambda: Conv2d("c", ("x",), K, groups=True), InvalidNetworkError, r"c.groups: True is not an integer"),
    (lambda: Conv2d("c", ("x",), K, groups=0), InvalidNetworkError, r"c.groups: 0 must be ≥ 1"),
    (lambda: Conv2d("c", ("x",), np.ones((2, 1, 0, 3), _f32)), ShapeError, r"c.weight: shape \(2, 1, 0, 3\) is empty"),
    (lambda: ConvTranspose2d("t", ("x",), K, output_padding=1), InvalidNetworkError,
     r"t.output_padding: \(1, 1\) must be smaller than the stride \(1, 1\) or the dilation"),
    (lambda: SparseLinear("s", ("x",), np.array([0.5]), np.array([0]), np.ones(1, _f32), n_out=1),
     InvalidNetworkError, r"s.pre: values must be integers, not float64"),
    (lambda: SparseLinear("s", ("x",), np.array([0]), np.array([0]), np.ones(1, _f32), n_out=0),
     InvalidNetworkError, r"s.n_out: 0 must be ≥ 1"),
    (lambda: SparseLinear("s", ("x",), np.array([0]), np.array([0]), np.ones(1, _f32), n_out=1, out_shape=(1, 0)),
     ShapeError, r"s.out_shape: \(1, 0\) must be a non-empty tuple of positive integers"),
    (lambda: MaxPool2d("p", ("x",), kernel=0), InvalidNetworkError, r"p.kernel: 0 must be ≥ 1"),
    (lambda: AvgPool2d("p", ("x",), kernel=2, stride=0), InvalidNetworkError, r"p.stride: 0 must be ≥ 1"),
    (lambda: AvgPool2d("p", ("x",), kernel=2, padding=2), InvalidNetworkError,
     r"p.padding: \(2, 2\) must be at most half the kernel \(2, 2\)"),
    (lambda: Upsample("u", ("x",), scale=0), InvalidNetworkError, r"u.scale: 0 must be ≥ 1"),
    (lambda: Upsample("u", ("x",), scale="2"), InvalidNetworkError, r"u.scale: '2' is not an integer"),
    (lambda: Input("x", (), ("a", 3)), ShapeError, r"x.shape: \('a', 3\) must be a non-empty tuple of positive"),
    (lambda: Input("x", (), 3), ShapeError, r"x.shape: 3 must be a non-empty tuple"),
    (lambda: Input("x", (), ()), ShapeError, r"x.shape: \(\) must be a non-empty tuple"),
    (lambda: Add("a", ("x", "y"), gains=np.ones(2)), InvalidNetworkError, r"a.gains: .* is not a tuple of per-input gains"),
    (lambda: Add("a", ("x", "y"), gains=(None, np.array(["1"]))), InvalidNetworkError, r"a.gains\[1\]: values must be numbers"),
    (lambda: Add("a", ("x", "y"), gains=(None, np.ones((2, 2)))), ShapeError, r"a.gains\[1\]: shape \(2, 2\) is 2-D"),
    (lambda: ReLU("r", ("x",), clip="1"), InvalidNetworkError, r"r.clip: '1' is not a number"),
    (lambda: ReLU("r", ("x",), clip=float("nan")), InvalidNetworkError, r"r.clip: nan is not finite"),
    (lambda: ReLU("r", ("x",), clip=1.0, levels=0), InvalidNetworkError, r"r.levels: 0 must be ≥ 1"),
    (lambda: ReLU("r", ("x",), clip=1.0, levels=2.5), InvalidNetworkError, r"r.levels: 2.5 is not an integer"),
    (lambda: Network((Input("x", (), (3,)),), "x"), InvalidNetworkError, r"network network: outputs: 'x' is not a tuple"),
    (lambda: Network((Input("x", (), (3,)),), ("x",), name=3), InvalidNetworkError, r"network name 3 is not a string"),
    (lambda: Network("x", ("x",)), InvalidNetworkError, r"nodes 'x' is not a sequence of layers"),
])
def test_nodes_check_their_fields(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_fields_are_normalised():
    conv = Conv2d("c", ["x"], K.tolist(), stride=np.int64(2), padding=[1, 0], groups=np.int32(1))
    assert conv.inputs == ("x",) and conv.stride == (2, 2) and conv.padding == (1, 0)
    assert type(conv.groups) is int and conv.weight.dtype == np.float64 and not conv.weight.flags.writeable
    add = Add("a", ["x", "y"], gains=[None, [0.5, 2]])
    assert isinstance(add.gains, tuple) and add.gains[1].dtype == np.float64
    relu = ReLU("r", ("x",), clip=np.float32(2), levels=np.int64(4))
    assert type(relu.clip) is float and type(relu.levels) is int
    assert MaxPool2d("p", ("x",), kernel=3, stride=None).stride == (3, 3)
    assert Input("x", (), [np.int64(2), 3]).shape == (2, 3)


def test_edits_in_python_are_checked_too():
    conv = base_network().node("c1")
    with pytest.raises(InvalidNetworkError, match=r"layer c1.stride: 0 must be ≥ 1"):
        dataclasses.replace(conv, stride=0)
    with pytest.raises(InvalidNetworkError, match=r"c1.weight: values must be numbers"):
        dataclasses.replace(conv, weight=np.full((3, 2, 3, 3), "w"))


# -- load_network holds a hand-edited folder to the same rules -------------------------------------

@pytest.mark.parametrize("node,field,value,match", [
    ("c1", "stride", 0, r"node 1 \('c1'\): layer c1.stride: 0 must be ≥ 1"),
    ("c1", "stride", "2", r"node 1 \('c1'\): layer c1.stride: '2' is neither an integer nor a pair"),
    ("c1", "padding", [1, -1], r"c1.padding: -1 must be ≥ 0"),
    ("c1", "groups", "one", r"c1.groups: 'one' is not an integer"),
    ("c1", "inputs", "x", r"c1.inputs: 'x' is not a tuple of layer names"),
    ("c1", "name", ["c1"], r"node 1: Conv2d layer name: \('c1',\) is not a non-empty string"),
    ("c1", "weight", "abc", r"c1.weight: values must be numbers, not <U3"),
    ("c1", "weight", [[1, 2], [3]], r"c1.weight: not an array"),
    ("c1", "weight", {"array": "../../../etc/passwd"}, r"node 1 \('c1'\).weight: refers to missing array '../../../etc/passwd'"),
    ("c1", "weight", {"array": ["c1/weight"]}, r"c1'\).weight: .* is not an array reference"),
    ("c1", "weight", {"array": "c1/weight", "path": "/etc"}, r"is not an array reference"),
    ("c1", "strides", 2, r"node 1 \('c1'\) \(Conv2d\): unknown field 'strides'; its fields are name, inputs"),
    ("p1", "kernel", 0, r"p1.kernel: 0 must be ≥ 1"),
    ("p1", "kernel", [2, 2, 2], r"p1.kernel: .* is neither an integer nor a pair"),
    ("u1", "scale", 2.5, r"u1.scale: 2.5 is not an integer"),
    ("x", "shape", [2, "4", 4], r"x.shape: \(2, '4', 4\) must be a non-empty tuple of positive integers"),
    ("sp", "n_out", None, r"sp.n_out: missing"),
    ("add", "gains", {"array": "c1/weight"}, r"add.gains: .* is not a tuple of per-input gains"),
    ("add", "gains", [None, "0.5"], r"add.gains\[1\]: values must be numbers"),
    ("fc", "bias", [[1, 2, 3]], r"fc.bias: shape \(1, 3\) is 2-D, must be 1-D"),
    ("s1", "threshold", "abc", r"node 2 \('s1'\)"),
    ("s1", "threshold", {"array": "c1/weight"}, r"node 2 \('s1'\)"),
    ("s2", "beta", "0.9", r"node 7 \('s2'\)"),
    ("fc", "type", "Softmax", r"node 14 has unknown type 'Softmax'"),
    ("fc", "type", ["Linear"], r"node 14 has unknown type \['Linear'\]"),
])
def test_hand_edited_fields_give_model_file_errors(saved, tmp_path, node, field, value, match):
    folder = copy_of(saved, tmp_path / "net")
    edit(folder, lambda doc: doc["nodes"][node_index(doc, node)].__setitem__(field, value))
    with pytest.raises(ModelFileError, match=match) as info:
        load_network(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


def test_the_same_value_is_refused_in_python_and_in_a_folder(saved, tmp_path):
    """One set of rules: the error of a loaded folder carries the node's own message."""
    folder = copy_of(saved, tmp_path / "net")
    edit(folder, lambda doc: doc["nodes"][node_index(doc, "c1")].update(stride=[1, 0], groups=2))
    with pytest.raises(SpikeforgeError) as built:
        dataclasses.replace(base_network().node("c1"), stride=(1, 0), groups=2)
    with pytest.raises(ModelFileError) as loaded:
        load_network(folder)
    assert str(built.value) in str(loaded.value)


@pytest.mark.parametrize("change,match", [
    (lambda doc: doc.update(nodes={"x": 1}), r"network.json: nodes is \{'x': 1\}, not a list of layers"),
    (lambda doc: doc["nodes"].__setitem__(3, 42), r"network.json: node 3 is 42, not an object"),
    (lambda doc: doc.update(outputs="fc"), r"outputs: 'fc' is not a tuple of layer names"),
    (lambda doc: doc.update(outputs=7), r"outputs: 7 is not a tuple of layer names"),
    (lambda doc: doc.pop("outputs"), r"outputs: None is not a tuple of layer names"),
    (lambda doc: doc.update(outputs=["nope"]), r"output 'nope' is not a layer"),
    (lambda doc: doc.update(name=["base"]), r"network name \['base'\] is not a string"),
    (lambda doc: doc.update(version="1"), r"format version '1', this spikeforge reads 1"),
    (lambda doc: doc["nodes"][1]["inputs"].__setitem__(0, "c1"), r"cycle c1 → c1 has no Delay"),
])
def test_malformed_structure(saved, tmp_path, change, match):
    folder = edit(copy_of(saved, tmp_path / "net"), change)
    with pytest.raises(ModelFileError, match=match):
        load_network(folder)


def test_metadata_must_be_an_object(saved, tmp_path):
    folder = edit(copy_of(saved, tmp_path / "net"), lambda doc: doc.update(metadata=[1, 2]))
    with pytest.raises(ModelFileError, match=r"network.json: metadata is \[1, 2\], not an object"):
        load_metadata(folder)


def test_deeply_nested_json_is_refused(saved, tmp_path):
    folder = copy_of(saved, tmp_path / "net")
    (folder / "network.json").write_text('{"format": "spikeforge.network", "version": 1, "nodes": '
                                         + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelFileError, match=r"network.json: not valid JSON \(nested too deeply\)"):
        load_network(folder)
    doc = json.loads((saved / "network.json").read_text())
    nested: list = [1]
    for _ in range(200):
        nested = [nested]
    doc["nodes"][1]["stride"] = nested
    (folder / "network.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"c1'\).stride: lists nested more than 8 deep"):
        load_network(folder)


def test_network_json_is_checked_before_reading(saved, tmp_path):
    folder = copy_of(saved, tmp_path / "net")
    (folder / "network.json").unlink()
    with open(folder / "network.json", "wb") as f:  # a hole: no disk space taken
        f.truncate(65 << 20)
    with pytest.raises(ModelFileError, match=r"network.json .*network.json: 65.0 MiB, more than the 64.0 MiB"):
        load_network(folder)
    (folder / "network.json").unlink()
    os.mkfifo(folder / "network.json")  # reading it would block forever
    with pytest.raises(ModelFileError, match=r"not a regular file \(a device, FIFO or socket\)"):
        load_network(folder)
    (folder / "network.json").unlink()
    (folder / "network.json").mkdir()
    with pytest.raises(ModelFileError, match=r"network.json: is a folder, not a file"):
        load_network(folder)
    (folder / "network.json").rmdir()
    (folder / "network.json").write_text('{"format": "spikeforge.network", "version": 1, "n": ' + "9" * 5000 + "}")
    with pytest.raises(ModelFileError, match=r"network.json: not valid JSON"):
        load_network(folder)


def npy_bytes(shape: tuple[int, ...], dtype: str = "<f4", payload: bytes = b"") -> bytes:
    """An .npy file whose header declares ``shape`` but whose data is only ``payload``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def npz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buf.getvalue()


def npz_of(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_arrays_of_the_wrong_kind_are_refused(saved, tmp_path):
    folder = copy_of(saved, tmp_path / "net")
    with np.load(saved / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    (folder / "arrays.npz").write_bytes(npz_of(**{**arrays, "c1/weight": np.full((3, 2, 3, 3), "w")}))
    with pytest.raises(ModelFileError, match=r"node 1 \('c1'\): layer c1.weight: values must be numbers, not <U1"):
        load_network(folder)
    (folder / "arrays.npz").write_bytes(npz_of(**{**arrays, "sp/pre": np.arange(10.0)}))
    with pytest.raises(ModelFileError, match=r"layer sp.pre: values must be integers, not float64"):
        load_network(folder)
    (folder / "arrays.npz").write_bytes(npz_of(**{**arrays, "c1/weight": np.array([None, {}], dtype=object)}))
    with pytest.raises(ModelFileError, match=r"entry 'c1/weight.npy': holds Python objects \(dtype object\), refused"):
        load_network(folder)


@pytest.mark.parametrize("content,match", [
    (b"", r"cannot read arrays: not an npz archive, or truncated"),
    (npy_bytes((3,), payload=b"\0" * 12), r"an .npy file \(a single array\), not an .npz archive"),
    (npz_bytes({"c1/weight.npy": npy_bytes((10 ** 9, 10 ** 9))}),
     r"entry 'c1/weight.npy': declares shape \(1000000000, 1000000000\) float32 \(3.\d EiB\) but holds 0 B"),
    (npz_bytes({"c1/weight.npy": b"\x93NUMPY\x01\x00\xff\xff{'descr': <f4"}), r"cannot read arrays"),
    (npz_bytes({"notes.txt": b"hello"}), r"entry 'notes.txt' is not an npy array"),
])
def test_corrupt_arrays_npz(saved, tmp_path, content, match):
    folder = copy_of(saved, tmp_path / "net")
    (folder / "arrays.npz").write_bytes(content)
    with pytest.raises(ModelFileError, match=r"arrays.npz .*arrays.npz: " + match):
        load_network(folder)


def test_arrays_are_checked_against_memory_before_reading(saved, monkeypatch):
    monkeypatch.setattr(spikeforge.resources, "available_memory", lambda: 100)
    with pytest.raises(ResourceError, match=r"arrays.npz .*: needs .* of memory, 100 B available"):
        load_network(saved)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10) | st.integers(-(10 ** 30), 10 ** 30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4)
    | st.sampled_from(["x", "c1", "Conv2d", "c1/weight", "sp/pre"])
    | st.sampled_from(["c1/weight", "sp/pre", "add/gains/1", "nope"]).map(lambda k: {"array": k}),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=8)
FIELDS = ["name", "inputs", "type", "weight", "bias", "stride", "padding", "dilation", "groups", "kernel",
          "scale", "shape", "threshold", "v_init", "beta", "gains", "pre", "post", "n_out", "out_shape",
          "output_padding", "clip", "levels", "bogus"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(node=st.integers(0, 14), field=st.sampled_from(FIELDS), value=json_values,
       top=st.sampled_from([None, "name", "outputs", "nodes", "metadata"]))
def test_mutated_network_json_loads_or_gives_a_model_file_error(saved, tmp_path, node, field, value, top):
    folder = copy_of(saved, tmp_path / "net")
    doc = json.loads((saved / "network.json").read_text())
    if top is None:
        doc["nodes"][node][field] = value
    else:
        doc[top] = value
    (folder / "network.json").write_text(json.dumps(doc))
    try:
        net = load_network(folder)
        load_metadata(folder)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
        return
    # What loads can be inspected and simulated (or is refused with a named error).
    try:
        net.summary()
        simulate(net, SAMPLES, timesteps=2)
    except SpikeforgeError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_or_corrupted_arrays_npz_gives_a_model_file_error(saved, tmp_path, data):
    raw = (saved / "arrays.npz").read_bytes()
    if data.draw(st.booleans(), label="truncate"):
        content = raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        content = bytearray(raw)
        for at in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="positions"):
            content[at] ^= 0xFF
        content = bytes(content)
    folder = copy_of(saved, tmp_path / "net")
    (folder / "arrays.npz").write_bytes(content)
    try:
        load_network(folder)
    except ModelFileError as exc:
        assert "\n" not in str(exc)


# -- data files --------------------------------------------------------------------------------------

X = np.random.default_rng(0).random((16, 1, 8, 8)).astype(_f32)
Y = np.arange(16) % 10


def _object_npz() -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch PICKLED_CODE_RAN",))

    buf = io.BytesIO()
    np.savez(buf, x=np.array([Evil(), None], dtype=object))
    return buf.getvalue()


@pytest.mark.parametrize("content,match", [
    (b"", r"cannot read arrays: not an npz archive, or truncated \(File is not a zip file\)"),
    (npz_of(x=X, y=Y)[:1000], r"cannot read arrays: not an npz archive, or truncated"),
    (b"PK\x03\x04" + bytes(range(256)) * 8, r"cannot read arrays: not an npz archive, or truncated"),
    (npy_bytes((16, 1, 8, 8), payload=X.tobytes()), r"an .npy file \(a single array\), not an .npz archive"),
    (npz_bytes({"x.npy": npy_bytes((10 ** 9, 1, 8, 8))}),
     r"entry 'x.npy': declares shape \(1000000000, 1, 8, 8\) float32 \(238.4 GiB\) but holds 0 B \(truncated or corrupt\)"),
    (npz_bytes({"x.npy": b"\x93NUMPY\x01\x00\xff\xff{'descr': <f4"}), r"cannot read arrays"),
    (npz_bytes({"x.npy": b"\x93NUMPY\x09\x00"}), r"entry 'x.npy': npy format version \(9, 0\), not 1.0, 2.0 or 3.0"),
    (_object_npz(), r"entry 'x.npy': holds Python objects \(dtype object\), refused"),
    (npz_of(y=Y), r"no array 'x' \(found y\)"),
    (npz_of(), r"no array 'x' \(found none\)"),
    (npz_of(x=np.array(["a"] * 16)), r"x has dtype <U1, expected numbers"),
    (npz_of(x=X.astype(np.complex64)), r"x has dtype complex64, expected numbers"),
    (npz_of(x=X.reshape(-1)), r"x has shape \(1024,\), expected \(N, ...\) with N ≥ 1 samples"),
    (npz_of(x=np.array(3.0)), r"x has shape \(\), expected"),
    (npz_of(x=np.zeros((0, 1, 8, 8), _f32)), r"x has shape \(0, 1, 8, 8\), expected"),
    (npz_of(x=X, y=Y[:5]), r"y has shape \(5,\), expected \(16,\), one label per sample of x"),
    (npz_of(x=X, y=Y[:, None]), r"y has shape \(16, 1\), expected \(16,\)"),
    (npz_of(x=X, y=Y + 0.5), r"y has dtype float64, expected integer class labels"),
    (npz_of(x=X, y=Y - 3), r"y holds 6 negative class labels \(minimum -3\)"),
    (npz_of(x=np.where(X > 0.5, np.nan, X)), r"x holds \d+ NaN or Inf values"),
    (npz_of(x=X.astype(np.float64) * 1e39), r"x holds \d+ NaN or Inf values as float32 \(stored as float64\)"),
])
def test_malformed_data_files(tmp_path, content, match):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(InvalidDataError, match=r"data .*d.npz: " + match) as info:
            load_data(path)
    finally:
        os.chdir(cwd)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "PICKLED_CODE_RAN").exists()


def test_data_paths_that_are_not_files(tmp_path):
    with pytest.raises(InvalidDataError, match=r"missing.npz: no such data file"):
        load_data(tmp_path / "missing.npz")
    with pytest.raises(InvalidDataError, match=r"data .*: is a folder, not a file"):
        load_data(tmp_path)
    os.mkfifo(tmp_path / "fifo.npz")
    with pytest.raises(InvalidDataError, match=r"fifo.npz: not a regular file \(a device, FIFO or socket\)"):
        load_data(tmp_path / "fifo.npz")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    with pytest.raises(InvalidDataError, match=r"zero.npz: not a regular file"):
        load_data(tmp_path / "zero.npz")
    (tmp_path / "loop.npz").symlink_to("loop.npz")
    with pytest.raises(InvalidDataError, match=r"loop.npz: cannot read \(Too many levels of symbolic links\)"):
        load_data(tmp_path / "loop.npz")
    with open(tmp_path / "sparse.npz", "wb") as f:  # a hole of 65 GiB: no disk space taken
        f.write(b"PK\x03\x04")
        f.truncate(65 << 30)
    with pytest.raises(InvalidDataError, match=r"sparse.npz: 65.0 GiB, more than the 64.0 GiB such a file can be"):
        load_data(tmp_path / "sparse.npz")


def test_data_is_checked_against_memory_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    path.write_bytes(npz_of(x=X, y=Y))
    assert load_data(path).x.shape == X.shape
    monkeypatch.setattr(spikeforge.resources, "available_memory", lambda: 4096)
    with pytest.raises(ResourceError, match=r"data .*d.npz: needs 9.0 KiB of memory, 4.0 KiB available"):
        load_data(path)


def _damaged(raw: bytes, data) -> bytes:
    """``raw`` truncated, or with up to 8 bytes overwritten, as hypothesis draws it."""
    if data.draw(st.booleans(), label="truncate"):
        return raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
    content = bytearray(raw)
    for at in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="positions"):
        content[at] = data.draw(st.integers(0, 255), label="byte")
    return bytes(content)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_or_corrupted_data_gives_an_invalid_data_error(tmp_path, data):
    raw = npz_of(x=X, y=Y) if data.draw(st.booleans(), label="stored") else _compressed(x=X, y=Y)
    content = _damaged(raw, data)
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    try:
        loaded = load_data(path)
    except InvalidDataError as exc:
        assert "\n" not in str(exc)
    else:
        assert content != raw[:len(content)] or len(content) == len(raw)  # truncations never load
        assert loaded.x.dtype == np.float32 and np.isfinite(loaded.x).all()


def _compressed(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# -- model files -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn")
    return save_model(tmp_path_factory.mktemp("models") / "model.pt", model, "digits-cnn")


def state_of(model_file: Path) -> dict:
    return torch.load(model_file, weights_only=True)["state_dict"]


def doc_with(model_file: Path, **changes) -> dict:
    return {"architecture": "digits-cnn", "options": {}, "state_dict": state_of(model_file), **changes}


@pytest.mark.parametrize("changes,match", [
    ({"architecture": 42}, r"m.pt: architecture is 42, not a name"),
    ({"architecture": ["digits-cnn"]}, r"architecture is \['digits-cnn'\], not a name"),
    ({"architecture": ""}, r"a bare state dict; name its architecture"),
    ({"architecture": "resnet9000"}, r"unknown architecture 'resnet9000'; known: digits-cnn, lenet5"),
    ({"options": [1, 2]}, r"m.pt: options is \[1, 2\], not a mapping of option names to values"),
    ({"options": "num_classes=10"}, r"options is 'num_classes=10', not a mapping"),
    ({"options": {1: 2}}, r"m.pt: option name 1 is not a string"),
    ({"options": {"bogus": 1}}, r"architecture 'digits-cnn': unknown option 'bogus'; options are num_classes, pool"),
    ({"options": {"num_classes": "ten"}}, r"option num_classes='ten': must be an integer in 1..1048576"),
    ({"options": {"num_classes": float("nan")}}, r"option num_classes=nan: must be an integer"),
    ({"options": {"num_classes": 0}}, r"option num_classes=0: must be an integer in 1..1048576"),
    ({"options": {"num_classes": 10 ** 12}}, r"option num_classes=1000000000000: must be an integer"),
    ({"options": {"num_classes": True}}, r"option num_classes=True: must be an integer"),
    ({"options": {"pool": "median"}}, r"option pool='median': must be one of 'avg', 'max'"),
    ({"options": {"qcfs_levels": "abc"}}, r"option qcfs_levels='abc': must be an integer in 1..1024"),
    ({"options": {"qcfs_levels": 0}}, r"option qcfs_levels=0: must be an integer in 1..1024"),
    ({"state_dict": "weights"}, r"state dict is 'weights', not a mapping of names to tensors"),
    ({"state_dict": {"w": [1.0]}}, r"state dict entries are not all tensors \(entry 'w' is list\)"),
    ({"state_dict": {3: torch.ones(1)}}, r"state dict entries are not all tensors \(entry 3 is Tensor\)"),
])
def test_malformed_model_files(model_file, tmp_path, changes, match):
    path = tmp_path / "m.pt"
    torch.save(doc_with(model_file, **changes), path)
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change,match", [
    (lambda sd: sd["0.weight"].fill_(float("nan")), r"state dict entry '0.weight': 72 of 72 values are NaN or Inf"),
    (lambda sd: sd.update({"0.weight": sd["0.weight"].to(torch.complex64)}),
     r"state dict entry '0.weight' has dtype torch.complex64, expected real numbers"),
    (lambda sd: sd.update({"0.weight": torch.ones(2)}), r"weights do not fit architecture 'digits-cnn'"),
])
def test_bad_weights(model_file, tmp_path, change, match):
    sd = state_of(model_file)
    change(sd)
    path = tmp_path / "m.pt"
    torch.save(doc_with(model_file, state_dict=sd), path)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


@pytest.mark.parametrize("arch,options,match", [
    ("vgg", {"width": float("nan")}, r"option width=nan: must be a finite number in \(0, 64\]"),
    ("vgg", {"width": 1000}, r"option width=1000: must be a finite number in \(0, 64\]"),
    ("vgg", {"width": 0}, r"option width=0: must be a finite number"),
    ("vgg", {"config": "bogus"}, r"option config='bogus': must be one of 'vgg11', 'small'"),
    ("vgg", {"batch_norm": "yes"}, r"option batch_norm='yes': must be true or false"),
    ("vgg", {"size": 16}, r"architecture 'vgg': option size=16 leaves no pixels .*; use size ≥ 32"),
    ("lenet5", {"size": 15}, r"architecture 'lenet5': option size=15 leaves no pixels .*; use size ≥ 16"),
    ("resnet18", {"size": 16, "imagenet": True}, r"option size=16 leaves no pixels .*; use size ≥ 32"),
    ("unet", {"size": 20, "depth": 3}, r"option size=20 is not a multiple of 2\*\*depth = 8"),
    ("unet", {"depth": 0}, r"option depth=0: must be an integer in 1..16"),
    ("mlp", {"hidden": [64, "a"]}, r"option hidden=\[64, 'a'\]: must be a list of 1 to 64 integers"),
    ("mlp", {"hidden": 64}, r"option hidden=64: must be a list"),
    ("mlp", {"in_features": 10 ** 12}, r"option in_features=1000000000000: must be an integer in 1..1048576"),
])
def test_options_are_checked_by_the_architecture(model_file, tmp_path, arch, options, match):
    with pytest.raises(ModelFileError, match=match):
        build_model(arch, **options)
    bare = tmp_path / "bare.pt"
    torch.save(state_of(model_file), bare)
    with pytest.raises(ModelFileError, match=r"bare.pt: .*" + match):  # the same rules through a model file
        load_model(bare, arch, options)


def test_models_are_refused_by_memory_before_building(monkeypatch):
    monkeypatch.setattr(spikeforge.resources, "available_memory", lambda: 1 << 30)
    with pytest.raises(ResourceError, match=r"building architecture 'vgg' \(width=8.0\): needs 4.4 GiB of memory, "
                                            r"1.0 GiB available"):
        build_model("vgg", width=8)
    assert build_model("digits-cnn")[1] == (1, 8, 8)


def test_valid_options_still_build():
    model, shape = build_model("mlp", in_features=16, hidden=[8, 4], num_classes=3, qcfs_levels=4)
    assert shape == (16,) and model(torch.zeros(2, 16)).shape == (2, 3)
    model, shape = build_model("vgg", config="small", width=0.1, size=8, pool="max", batch_norm=False)
    assert shape == (3, 8, 8) and model(torch.zeros(1, 3, 8, 8)).shape == (1, 10)


@pytest.mark.parametrize("make,match", [
    (lambda raw, p: p.write_bytes(b""), r"not a PyTorch model file \(neither"),
    (lambda raw, p: p.write_bytes(raw[:len(raw) // 2]), r"not a PyTorch model file, or truncated or corrupt"),
    (lambda raw, p: p.write_bytes(raw[:16]), r"not a PyTorch model file, or truncated or corrupt"),
    (lambda raw, p: p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 16), r"not a PyTorch model file, or truncated"),
    (lambda raw, p: p.write_bytes(b"\x80\x02" + bytes(range(256)) * 16), r"m.pt: "),
    (lambda raw, p: p.write_bytes(npz_of(x=np.zeros(3))), r"not a PyTorch model file, or truncated or corrupt"),
    (lambda raw, p: p.mkdir(), r"model file .*m.pt: is a folder, not a file"),
    (lambda raw, p: os.mkfifo(p), r"model file .*m.pt: not a regular file"),
    (lambda raw, p: p.symlink_to("/dev/zero"), r"model file .*m.pt: not a regular file"),
    (lambda raw, p: p.symlink_to(p.name), r"m.pt: cannot read \(Too many levels of symbolic links\)"),
])
def test_corrupt_model_files(model_file, tmp_path, make, match):
    path = tmp_path / "m.pt"
    make(model_file.read_bytes(), path)
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_pickled_code_is_never_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'RAN'}",))

    path = tmp_path / "m.pt"
    path.write_bytes(pickle.dumps({"architecture": "digits-cnn", "state_dict": Evil()}, protocol=2))
    with pytest.raises(ModelFileError, match="refused to unpickle"):
        load_model(path)
    assert not (tmp_path / "RAN").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_or_corrupted_model_files_give_a_model_file_error(model_file, tmp_path, data):
    raw = model_file.read_bytes()
    content = _damaged(raw, data)
    path = tmp_path / "m.pt"
    path.write_bytes(content)
    try:
        load_model(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
