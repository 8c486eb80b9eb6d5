"""spikeforge compile end to end on digits, the artifact round trip, and admission."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from rich.console import Console

from spikeforge.artifact import load_artifact
from spikeforge.cli import build_parser
from spikeforge.dataflow.analysis import throughput
from spikeforge.errors import (
    InvalidDataError,
    InvalidHardwareSpecError,
    ModelFileError,
    PipelineInvariantError,
)
from spikeforge.frontends.model_file import save_model
from spikeforge.models import build_model
from spikeforge.pipeline import PASSES, CompileOptions, compile_model
from spikeforge.runtime.admission import Runtime


def _run(argv):
    args = build_parser().parse_args(argv)
    out = Console(file=io.StringIO(), width=200)
    result = args.run(args, out)
    return result, out.file.getvalue()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn")
    path = tmp_path_factory.mktemp("m") / "digits.pt"
    save_model(path, model, "digits-cnn")
    return path


@pytest.fixture(scope="module")
def compiled(model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "app"
    c, text = _run(["compile", str(model_file), "--hw", "xbar-mesh", "--calib", "digits:train",
                    "-o", str(out), "-T", "4", "--calib-samples", "24", "--partitioner", "tiles",
                    "--data", "digits:test", "--samples", "40"])
    return c, text, out


def test_compile_prints_figures_and_writes_artifact(compiled):
    c, text, out = compiled
    assert tuple(c.seconds) == tuple(p.name for p in PASSES)  # every pass ran, in the list's order
    for figure in ("accuracy at T=4", "digits-test (40 samples, --data)", "guaranteed throughput",
                   "inferences/s", "timesteps/s", "latency per inference", "energy per inference",
                   "bottleneck", "layer"):
        assert figure in text
    assert sorted(p.name for p in out.iterdir()) == [".spikeforge", "application.xml", "arrays.npz",
                                                      "artifact.json", "graph.xml", "snn"]
    g = c.guarantee
    assert g.inferences_per_s == pytest.approx(1e9 / (4 * g.period_ns))


def test_artifact_round_trip(compiled):
    c, _, out = compiled
    a = load_artifact(out)
    assert a.document["format"] == "spikeforge.artifact" and a.document["version"] == 1
    assert a.hardware == c.platform.hardware and a.timesteps == 4
    assert [x.name for x in a.graph.actors] == [x.name for x in c.graph.actors]
    assert dict(a.graph.static_orders) == dict(c.graph.static_orders)
    assert float(throughput(a.graph).period) == pytest.approx(c.guarantee.period_ns)
    assert a.snn.name == c.snn.name and len(a.snn.nodes) == len(c.snn.nodes)
    assert a.arrays["cluster_crossbar"].tolist() == [c.schedule.binding[f"c{i}"] for i in
                                                     range(c.partition.n_clusters)]
    assert a.figures["guarantee"]["period_ns"] == pytest.approx(c.guarantee.period_ns)


@pytest.mark.parametrize("change, error, match", [
    ({"--hw": "no-such-hw"}, InvalidHardwareSpecError, "no-such-hw"),
    ({"--calib": "missing.npz"}, InvalidDataError, "missing.npz: no such data file"),
])
def test_bad_input_writes_nothing(model_file, tmp_path, change, error, match):
    argv = {"--hw": "xbar-mesh", "--calib": "digits", "-o": str(tmp_path / "out"), "-T": "4"}
    argv.update({k: v for k, v in change.items() if v is not None})
    flat = ["compile", str(model_file)] + [x for kv in argv.items() for x in kv]
    with pytest.raises(error, match=match):
        _run(flat)
    assert list(tmp_path.iterdir()) == []


def test_bad_timesteps_write_nothing(model_file, tmp_path):
    """The API refuses them as the CLI's argument parser does."""
    with pytest.raises(InvalidDataError, match="--timesteps 0: must be an integer >= 1"):
        compile_model(CompileOptions(model=str(model_file), hardware="xbar-mesh", calib="digits",
                                     output=str(tmp_path / "out"), timesteps=0), quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_missing_model_writes_nothing(tmp_path):
    with pytest.raises(ModelFileError, match="no such network folder or model file"):
        _run(["compile", str(tmp_path / "nope.pt"), "--hw", "xbar-mesh", "--calib", "digits",
              "-o", str(tmp_path / "out"), "-T", "4", "--calib-samples", "8"])
    assert not (tmp_path / "out").exists()


def test_admit_accepts_then_rejects(compiled):
    c, _, out = compiled
    n = c.partition.n_clusters
    results, text = _run(["admit", str(out), str(out), "--hw", "xbar-mesh"])
    first, second = results
    assert first.admitted and first.reused_design_analysis
    assert first.throughput == pytest.approx(1 / c.guarantee.period_ns)
    assert first.inferences_per_s == pytest.approx(c.guarantee.inferences_per_s)
    assert not second.admitted
    assert second.reason == f"application {c.snn.name}#2 needs {n} crossbars, {16 - n} free"
    assert "rejected" in text and "admitted" in text


def test_runtime_api_on_hardware(compiled):
    _, _, out = compiled
    rt = Runtime("xbar-mesh")
    r = rt.admit(load_artifact(out))
    assert r.admitted and r.decision_ms >= 0 and len(rt.free) == 16 - len(r.crossbars)


def test_quantized_folder_is_refused_with_its_source(tmp_path):
    import numpy as np

    from spikeforge.ir import network as ir
    from spikeforge.ir.serialize import save_network
    from spikeforge.quantize import quantize, save_quantized

    snn = ir.Network((ir.Input("x", (), (1, 8, 8)), ir.Flatten("f", ("x",)),
                      ir.Linear("fc", ("f",), np.full((10, 64), 0.1, np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1.0)),
                      ir.Linear("out", ("n",), np.eye(10, dtype=np.float32))), ("out",), name="tiny")
    save_network(snn, tmp_path / "snn")
    save_quantized(quantize(snn, weight_bits=8), tmp_path / "q", {"source": str(tmp_path / "snn")})
    with pytest.raises(ModelFileError, match=r"q: a quantised network \(8-bit weights\); compile the float SNN "
                                             r"it was quantised from \(.*snn\)"):
        _run(["compile", str(tmp_path / "q"), "--hw", "xbar-mesh", "--calib", "digits",
              "-o", str(tmp_path / "out"), "-T", "4", "--calib-samples", "8"])
    assert not (tmp_path / "out").exists()


# -- the pass list ---------------------------------------------------------------------------------
def _options(model_file, **changes):
    return CompileOptions(**{"model": str(model_file), "hardware": "xbar-mesh", "calib": "digits:train",
                             "timesteps": 2, "calib_samples": 8, "partitioner": "tiles", **changes})


def test_passes_run_in_list_order_over_one_context(model_file):
    seen = []

    def spy(p):
        def run(ctx, progress):
            seen.append(p.name)
            return p.run(ctx, progress)
        return dataclasses.replace(p, run=run)

    c = compile_model(_options(model_file), quiet=True, passes=tuple(spy(p) for p in PASSES))
    names = [p.name for p in PASSES]
    assert seen == names[:-1] == list(c.seconds)  # export only with an output folder
    assert names == ["import", "convert", "profile", "accuracy", "partition", "place", "dataflow", "analyse",
                     "export"]
    assert c.figures["accuracy"] == c.accuracy and c.accuracy_on.endswith("(8 samples, calibration data)")


def _broken(pass_name, **changes):
    """PASSES with ``pass_name``'s result changed: the next pass must never see it."""
    def run_then_break(p):
        def run(ctx, progress):
            ctx = p.run(ctx, progress)
            return dataclasses.replace(ctx, **{k: f(ctx) for k, f in changes.items()})
        return dataclasses.replace(p, run=run)
    return tuple(run_then_break(p) if p.name == pass_name else p for p in PASSES)


def _twice(ctx):
    """The partition with the first piece of its first layer given to the last cluster too."""
    import numpy as np

    from spikeforge.ir.partition import Partition

    part = ctx.partition
    keep = {f.name: getattr(part, f.name) for f in dataclasses.fields(Partition) if f.init}
    first = int(np.flatnonzero((part.piece_layer == 0) & (part.piece_part == 0))[0])
    extra = lambda name, value: np.concatenate([keep[name], [value]])
    keep.update(piece_cluster=extra("piece_cluster", part.n_clusters - 1), piece_layer=extra("piece_layer", 0),
                piece_part=extra("piece_part", 0), piece_box=np.vstack([part.piece_box, part.piece_box[first]]),
                limits={})
    return Partition(**keep)


@pytest.mark.parametrize("pass_name, changes, match", [
    ("partition", {"partition": _twice}, r"pass partition: layer \w+: neuron \(0, 0, 0\) is in 2 clusters, not 1"),
    ("accuracy", {"accuracy": lambda ctx: 1.5}, r"pass accuracy: accuracy 1.5 outside \[0, 1\]"),
    ("dataflow", {"dataflow": lambda ctx: ctx.dataflow._replace(
        schedule=dataclasses.replace(ctx.dataflow.schedule, binding={}))},
     r"pass dataflow: \d+ of \d+ clusters not bound to a crossbar \(c0, "),
])
def test_an_invariant_broken_by_a_pass_is_caught_naming_it(model_file, tmp_path, pass_name, changes, match):
    with pytest.raises(PipelineInvariantError, match=match):
        compile_model(_options(model_file, output=str(tmp_path / "out")), quiet=True,
                      passes=_broken(pass_name, **changes))
    assert not (tmp_path / "out").exists()
