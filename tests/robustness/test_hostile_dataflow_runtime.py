"""Hostile inputs to admission, artifacts, dataflow graphs and the self-timed simulation (issue 17):
huge boards answer at once, artifacts that cannot run as recorded are refused when loaded, graph
constructors check their own fields whatever builds them, and a simulation is bounded before it
starts."""

from __future__ import annotations

import json
import re
import tomllib
from fractions import Fraction

import numpy as np
import pytest
# the hand-built two-cluster artifact (fixture artifact_parts) and the hang watchdog
from test_malformed_hardware_graphs import _artifact, _artifact_doc, artifact_parts, watchdog  # noqa: F401

from spikeforge.artifact import load_artifact
from spikeforge.cli.compile import run_admit
from spikeforge.dataflow.binding import Platform, bind
from spikeforge.dataflow.sdf3 import read_sdf3, to_sdf3_string
from spikeforge.dataflow.selftimed import simulate
from spikeforge.errors import InvalidGraphError, ModelFileError, ResourceError
from spikeforge.hardware import hardware_from_dict, hardware_to_toml, load_hardware
from spikeforge.ir.dataflow import MAX_RATE, MAX_TOKENS, Actor, Channel, DataflowGraph
from spikeforge.runtime.admission import Design, FreeCrossbars, Runtime

# --------------------------------------------------------------------------------------------
# admission onto huge boards

_BOARDS = {
    "chip mesh 100000 × 100000": {"chip": {"mesh_x": 100_000, "mesh_y": 100_000}},
    "10^8 chips": {"board": {"chips": 10**8, "mesh_x": 10**4, "mesh_y": 10**4}},
}


def _huge(change: dict):
    doc = tomllib.loads(hardware_to_toml(load_hardware("xbar-mesh")))
    doc.update(change)
    return hardware_from_dict(doc, source="hw.toml")


@pytest.mark.parametrize("board", _BOARDS)
def test_admission_onto_a_huge_board_answers_at_once(artifact_parts, tmp_path, board):
    hw = _huge(_BOARDS[board])
    app = load_artifact(_artifact(artifact_parts, tmp_path / "app", _artifact_doc(load_hardware("xbar-mesh"))))
    plain = DataflowGraph((Actor("a", 1), Actor("b", 2)), (Channel("ab", "a", "b", 1, 1),), "plain")
    with watchdog(10, f"admission onto {board}"):
        rt = Runtime(hw)
        results = [rt.admit(app, name=f"tiny{i}") for i in range(3)] + [rt.admit(plain)]
        free = rt.free
        assert all(r.admitted for r in results)
        used = sorted(x for r in results for x in r.crossbars)
        assert len(set(used)) == 8 and len(free) == hw.total_crossbars - 8
        assert free[0] == min(set(range(9)) - set(used)) and free[-1] == hw.total_crossbars - 1
        assert used[0] not in free and hw.total_crossbars - 1 in free
        assert rt.release("tiny1") == results[1].crossbars and len(rt.free) == hw.total_crossbars - 6


def test_a_design_on_crossbars_beyond_a_huge_board_is_placed_at_once():
    far = 10**12
    app = DataflowGraph((Actor("a", 1, "xbar0"), Actor("b", 1, f"xbar{far}")), (Channel("ab", "a", "b", 1, 1),),
                        "far", {"xbar0": ("a",), f"xbar{far}": ("b",)})
    design = Design(app, Platform.from_hardware("xbar-mesh"), 1.0)
    rt = Runtime(_huge(_BOARDS["10^8 chips"]))
    rt.admit(DataflowGraph((Actor("x", 1),), (), "first"))  # crossbar 0 taken: no crossbar is free as designed
    with watchdog(10, "placing a design whose crossbars lie beyond the board"):
        r = rt.admit(design)
    assert r.admitted and r.crossbars == (1, 2) and not r.reused_design_analysis


def test_admit_command_on_a_huge_board_answers_at_once(artifact_parts, tmp_path):
    import argparse
    import io

    from rich.console import Console

    app = _artifact(artifact_parts, tmp_path / "app", _artifact_doc(load_hardware("xbar-mesh")))
    (tmp_path / "hw.toml").write_text(hardware_to_toml(_huge(_BOARDS["chip mesh 100000 × 100000"])))
    out = Console(file=io.StringIO(), width=200)
    with watchdog(10, "spikeforge admit on a chip of 10^10 cores"):
        run_admit(argparse.Namespace(apps=[str(app)], hw=str(tmp_path / "hw.toml"), min_throughput=None), out)
    assert "9,999,999,998 of 10,000,000,000 crossbars free" in out.file.getvalue()


@pytest.mark.parametrize("crossbars, per, occupied", [
    (1, 1, ()), (7, 1, (3,)), (10, 4, (1, 2, 9)), (12, 3, (0, 1, 2, 5, 11)), (6, 2, tuple(range(6)))])
def test_free_crossbars_behave_as_the_tuple_of_them(crossbars, per, occupied):
    free = FreeCrossbars(crossbars, dict.fromkeys(occupied, "app"))
    listed = tuple(x for x in range(crossbars) if x not in occupied)
    assert free == listed and listed == free and tuple(free) == listed and len(free) == len(listed)
    assert [free[i] for i in range(-len(listed), len(listed))] == list(listed * 2)
    assert free[1:] == listed[1:] and free[::-2] == listed[::-2]
    assert [x in free for x in range(-1, crossbars + 1)] == [x in listed for x in range(-1, crossbars + 1)]
    with pytest.raises(IndexError, match=f"free crossbar {len(listed)} of {len(listed)}"):
        free[len(listed)]
    assert free != list(listed) and "FreeCrossbars" in repr(free)


def test_picks_are_the_fullest_free_cores_first():
    # cores of 4: core 0 has 1 free, core 1 is whole, core 2 has 2 (the short last one)
    rt = Runtime(Platform(10, crossbars_per_core=4))
    rt._owner.update(dict.fromkeys((0, 1, 2), "x"))
    assert rt._pick(7) == [4, 5, 6, 7, 8, 9, 3]
    # the design's crossbars 0, 1 (one core) and 4: whole cores for whole cores, in core order
    assert rt._pick_design(["xbar0", "xbar1", "xbar4"]) == [4, 5, 3]


def test_binding_on_a_huge_platform_lists_only_the_crossbars_it_can_use():
    app = DataflowGraph(tuple(Actor(f"a{i}", t) for i, t in enumerate([4, 1, 1, 2])), ())
    with watchdog(10, "bind on 10^12 crossbars"):
        huge = bind(app, Platform(10**12), "local-search")
        counted = bind(app, Platform(10**12), "pipeline", crossbars=10**11)
    assert dict(huge.binding) == dict(bind(app, Platform(4), "local-search").binding)
    assert dict(counted.binding) == dict(bind(app, Platform(4), "pipeline").binding)


# --------------------------------------------------------------------------------------------
# artifacts


def _load_with(parts, folder, change=None, files=None):
    doc = _artifact_doc(load_hardware("xbar-mesh"))
    if change:
        change(doc)
    path = _artifact(parts, folder, doc)
    for name, edit in (files or {}).items():
        edit(path / name)
    return load_artifact(path)


def _set(*path):
    """A change of ``artifact.json`` setting the field at ``path[:-1]`` to ``path[-1]``."""
    *keys, value = path

    def change(doc):
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, match", [
    (_set("schedule", "period_ns", 0.0), r"artifact\.json: schedule\.period_ns = 0\.0: must be a finite number > 0"),
    (_set("network", "neurons", -3), r"artifact\.json: network\.neurons = -3: must be an integer ≥ 0"),
    (_set("mapping", "clusters", 1, "core", -1), r"mapping\.clusters\[1\]\.core = -1: must be an integer ≥ 0"),
    (_set("schedule", "binding", "c1", -1), r"schedule\.binding\.c1 = -1: must be an integer ≥ 0"),
    (_set("hardware", "chips", 0), r"hardware\.chips = 0: must be an integer ≥ 1"),
    (_set("hardware", "spec_toml", "a" + ".a" * 50_000 + " = 1\n"),
     r"corrupt artifact \(.*artifact\.json: hardware\.spec_toml: line 1: a key 50001 levels deep"),
    (_set("hardware", "spec_toml", "x = " + "[" * 50_000 + "]" * 50_000 + "\n"),
     r"artifact\.json: hardware\.spec_toml: not a valid hardware file \(values nested too deeply"),
    (_set("hardware", "spec_toml", "x = = ["), r"hardware\.spec_toml: not a valid TOML file"),
])
def test_artifact_fields_out_of_range_are_refused_when_loaded(artifact_parts, tmp_path, change, match):
    with watchdog(20, "loading a hostile artifact"), pytest.raises(ModelFileError, match=match):
        _load_with(artifact_parts, tmp_path / "app", change)


def test_an_artifact_whose_application_deadlocks_is_refused_when_loaded(artifact_parts, tmp_path):
    def no_tokens(path):
        path.write_text(re.sub(r'initialTokens="\d+"', 'initialTokens="0"', path.read_text()))

    with pytest.raises(ModelFileError, match=r"app/application\.xml: graph 'tiny' deadlocks: cycle c0 -> c0"):
        _load_with(artifact_parts, tmp_path / "app", files={"application.xml": no_tokens})


@pytest.mark.parametrize("key, value, match", [
    ("execution_ns", [10.0, np.nan], r"arrays\.npz: execution_ns\[1\] = nan: must be finite and ≥ 0"),
    ("traffic_spikes", [-1.0], r"arrays\.npz: traffic_spikes\[0\] = -1\.0: must be finite and ≥ 0"),
    ("cluster_layer", [0, -2], r"arrays\.npz: cluster_layer\[1\] = -2: must be finite and ≥ -1"),
    ("cluster_core", [True, False], r"arrays\.npz: cluster_core holds bool values, not numbers"),
    ("traffic_row", None, r"arrays\.npz: no array 'traffic_row'"),
])
def test_artifact_arrays_out_of_range_are_refused_when_loaded(artifact_parts, tmp_path, key, value, match):
    def edit(path):
        with np.load(path) as f:
            arrays = dict(f)
        if value is None:
            del arrays[key]
        else:
            arrays[key] = np.array(value)
        np.savez(path, **arrays)

    with pytest.raises(ModelFileError, match=match):
        _load_with(artifact_parts, tmp_path / "app", files={"arrays.npz": edit})


def test_a_valid_artifact_still_loads_and_is_admitted(artifact_parts, tmp_path):
    a = _load_with(artifact_parts, tmp_path / "app")
    assert json.loads((a.path / "artifact.json").read_text())["schedule"]["period_ns"] == 10.0
    assert Runtime("xbar-mesh").admit(a).admitted


# --------------------------------------------------------------------------------------------
# dataflow graph constructors: one set of rules for Python and SDF3


@pytest.mark.parametrize("build, match", [
    (lambda: DataflowGraph(None, ()), r"graph '': actors must be a sequence of Actor, got NoneType"),
    (lambda: DataflowGraph((), None, "g"), r"graph 'g': channels must be a sequence of Channel, got NoneType"),
    (lambda: DataflowGraph((), "ab"), r"channels must be a sequence of Channel, got str"),
    (lambda: DataflowGraph((), (), None), r"graph name must be a string, got None"),
    (lambda: DataflowGraph((), (), "g", [("p", ("a",))]), r"graph 'g': static_orders must be a mapping"),
    (lambda: DataflowGraph((), (), "g", {0: ("a",)}), (r"a processor of the static orders must be a non-empty "
                                                       r"string, got 0")),
    (lambda: DataflowGraph((Actor("a", 1, "p"),), (), "g", {"p": "a"}),
     r"static order of processor p: must be a sequence of actor names, got str"),
    (lambda: DataflowGraph((Actor("a", 1, "p"),), (), "g", {"p": [["a"]]}),
     r"static order of processor p: actor names must be strings, got \['a'\]"),
    (lambda: Channel("c", None, "B", 1, 1), r"channel c: source actor must be a non-empty string, got None"),
    (lambda: Channel("c", 3.5, "B", 1, 1), r"channel c: source actor must be a non-empty string, got 3\.5"),
    (lambda: Channel("c", "A", None, 1, 1), r"channel c: destination actor must be a non-empty string, got None"),
    (lambda: Channel("c", "A", "B", 10**30, 1),
     r"channel c: production rate 10{30} is larger than 2147483647, the largest supported"),
    (lambda: Channel("c", "A", "B", 1, 10**5000), r"channel c: consumption rate about 10\^5000 is larger than"),
    (lambda: Channel("c", "A", "B", 1, 1, MAX_TOKENS + 1), r"channel c: initial tokens 9007199254740993 is larger"),
    (lambda: Channel("c", "A", "B", 1, 1, 0, np.int64(MAX_RATE + 1)), r"channel c: token size 2147483648 is larger"),
    (lambda: Actor("A", 10**400), r"actor A: execution time about 10\^400 is too large \(more than 1\.8e308"),
    (lambda: Actor("A", Fraction(10**400, 3)), r"actor A: execution time about 10\^400 is too large"),
    (lambda: Actor("A", -10**400), r"actor A: execution time must be finite and >= 0, got about -10\^400"),
    (lambda: Actor("A", 1, 5), r"actor A: processor must be a non-empty string, got 5"),
])
def test_constructors_check_their_own_fields(build, match):
    with pytest.raises(InvalidGraphError, match=match):
        build()


@pytest.mark.parametrize("attribute, field, top", [
    ("rate", "production", MAX_RATE), ("initialTokens", "initial_tokens", MAX_TOKENS), ("sz", "token_size", MAX_RATE)])
def test_python_and_sdf3_graphs_obey_the_same_bounds(attribute, field, top):
    g = DataflowGraph((Actor("A", 1e308),), (Channel("c", "A", "A", MAX_RATE, MAX_RATE, MAX_TOKENS, MAX_RATE),), "g")
    text = to_sdf3_string(g)
    assert read_sdf3(text) == g
    with pytest.raises(InvalidGraphError, match=f"{top + 1} is larger than {top}"):
        read_sdf3(text.replace(f'{attribute}="{top}"', f'{attribute}="{top + 1}"', 1))
    with pytest.raises(InvalidGraphError, match=f"channel c: .* {top + 1} is larger than {top}"):
        Channel(**{"name": "c", "src": "A", "dst": "A", "production": 1, "consumption": 1, field: top + 1})


# --------------------------------------------------------------------------------------------
# self-timed simulation


def test_simulation_is_bounded_before_it_starts():
    g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
                      (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)), "g")
    with watchdog(10, "simulate 10^9 iterations"), pytest.raises(
            ResourceError, match=r"graph 'g': self-timed simulation: 1,000,000,000 iterations fire "
                                 r"2,000,000,000 actors \(q\[A\] = 1\), more than the 1,000,000 firings"):
        simulate(g, 10**9)
    assert simulate(g, 4).iteration_end == (5, 10, 15, 20)
