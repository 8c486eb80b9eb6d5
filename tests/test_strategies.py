"""One strategy interface: partitioners, placers and binders are objects carrying their options,
registered by name, with one default each and one unknown-strategy error."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from spikeforge.dataflow.binding import (
    BINDERS,
    DEFAULT_BINDER,
    Binder,
    LocalSearchBinder,
    Platform,
    bind,
)
from spikeforge.errors import InvalidDataError, UnknownStrategyError
from spikeforge.hardware import load_hardware
from spikeforge.hardware.accelerator import ASSIGNMENTS, Assignment
from spikeforge.ir import network as ir
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.mapping.partition import (
    DEFAULT_PARTITIONER,
    PARTITIONERS,
    HypergraphPartitioner,
    Partitioner,
    TilesPartitioner,
    partition,
)
from spikeforge.mapping.place import (
    DEFAULT_PLACER,
    PLACERS,
    MinCutPlacer,
    Placer,
    place,
)
from spikeforge.pipeline import CompileOptions, compile_model
from spikeforge.sim.simulator import simulate

REGISTRIES = [(PARTITIONERS, Partitioner, DEFAULT_PARTITIONER), (PLACERS, Placer, DEFAULT_PLACER),
              (BINDERS, Binder, DEFAULT_BINDER), (ASSIGNMENTS, Assignment, "channel")]
# a value other than the default for every option of every strategy
OPTIONS = {"tiles": {"objective": "connectivity"}, "hypergraph": {"backend": "metis", "neuron_limit": 10},
           "min-cut": {"max_restarts": 2, "restart_budget": 100, "flat_chips": 4},
           "local-search": {"budget_per_step": 3}}


@pytest.fixture(scope="module")
def mapped():
    rng = np.random.default_rng(0)
    net = ir.Network((ir.Input("x", (), (1, 6, 6)),
                      ir.Conv2d("c1", ("x",), rng.random((3, 1, 3, 3)).astype(np.float32), padding=(1, 1)),
                      ir.IF("n1", ("c1",), threshold=np.float32(1.0)),
                      ir.Flatten("f", ("n1",)),
                      ir.Linear("fc", ("f",), rng.random((5, 108)).astype(np.float32) * 0.1),
                      ir.IF("n2", ("fc",), threshold=np.float32(1.0))), outputs=("n2",), name="small")
    prof = simulate(net, rng.random((2, 1, 6, 6)).astype(np.float32) * 2, timesteps=4).profile
    hw = load_hardware("xbar-mesh").replace(
        core={"crossbar_rows": 16, "crossbar_columns": 16, "neurons_per_core": 16, "max_fan_in_per_neuron": 16})
    return net, prof, hw


def _app():
    actors = tuple(Actor(f"a{i}", t) for i, t in enumerate([3, 1, 2, 2, 1]))
    return DataflowGraph(actors, tuple(Channel(f"e{i}", f"a{i}", f"a{i + 1}", 1, 1) for i in range(4)), name="chain")


@pytest.mark.parametrize("registry, base, default", REGISTRIES, ids=lambda r: getattr(r, "kind", None))
def test_every_strategy_reachable_by_name_with_its_options(registry, base, default):
    assert default in registry and registry.names() == tuple(registry) and len(registry) == len(registry.names())
    for name in registry:
        plain = registry.get(name)
        assert isinstance(plain, base) and plain.name == name and registry.resolve(name) == plain
        options = OPTIONS.get(name, {})
        assert set(options) == {f.name for f in dataclasses.fields(plain)}, f"{name}: every option tested"
        tuned = registry.get(name, **options)
        assert all(getattr(tuned, k) == v for k, v in options.items())
        assert registry.resolve(tuned) is tuned
        with pytest.raises(InvalidDataError, match=f"{registry.kind} '{name}': unknown option\\(s\\) colour"):
            registry.get(name, colour=1)
    assert [line.split(":")[0] for line in registry.help()] == list(registry)
    assert all(line.endswith(".") and len(line) > len(name) + 10 for line, name in zip(registry.help(), registry))


@pytest.mark.parametrize("registry, base, default", REGISTRIES, ids=lambda r: getattr(r, "kind", None))
def test_unknown_strategy_is_the_one_error_listing_the_known_names(registry, base, default):
    known = ", ".join(registry)
    with pytest.raises(UnknownStrategyError, match=f"^unknown {registry.kind} 'nope'; known: {known}$"):
        registry.get("nope")
    with pytest.raises(UnknownStrategyError, match=f"^unknown {registry.kind} 'nope'; known: {known}$"):
        registry.resolve("nope")
    other = next(r for r, _, _ in REGISTRIES if r is not registry)
    with pytest.raises(UnknownStrategyError, match=f"is no {registry.kind}"):
        registry.resolve(other.get(next(iter(other))))


def test_stages_take_names_and_objects_and_raise_the_one_error(mapped):
    net, prof, hw = mapped
    for stage in (lambda s: partition(net, prof, hw, strategy=s),
                  lambda s: place(partition(net, prof, hw, strategy="tiles"), hw, strategy=s),
                  lambda s: bind(_app(), Platform(2), s)):
        with pytest.raises(UnknownStrategyError, match="'nope'; known: "):
            stage("nope")
    by_name = partition(net, prof, hw, strategy="tiles")
    by_object = partition(net, prof, hw, strategy=TilesPartitioner())
    assert by_object.strategy == by_name.strategy == "tiles"
    assert np.array_equal(by_object.piece_cluster, by_name.piece_cluster)
    pl = place(by_name, hw, strategy=MinCutPlacer(max_restarts=1))
    assert pl.strategy == "min-cut" and len(pl.cluster_core) == by_name.n_clusters
    s = bind(_app(), Platform(2), LocalSearchBinder(budget_per_step=0))
    assert s.strategy == "local-search" and set(s.binding) == {f"a{i}" for i in range(5)}


def test_options_reach_the_strategy(mapped):
    """With a neuron limit of 0 the hypergraph partitioner never works neuron by neuron: it takes
    the tile grids that minimise connectivity, which the tiles partitioner makes when asked."""
    net, prof, hw = mapped
    grid = partition(net, prof, hw, strategy=HypergraphPartitioner(neuron_limit=0))
    tiles = partition(net, prof, hw, strategy=TilesPartitioner(objective="connectivity"))
    assert grid.strategy == "hypergraph" and tiles.strategy == "tiles"
    assert np.array_equal(grid.piece_cluster, tiles.piece_cluster)
    assert np.array_equal(grid.piece_box, tiles.piece_box)
    assert (grid.traffic != tiles.traffic).nnz == 0


@pytest.mark.parametrize("make, match", [
    (lambda: TilesPartitioner(objective="speed"), "tiles partitioner: objective 'speed'"),
    (lambda: HypergraphPartitioner(backend="gurobi"), "hypergraph partitioner: backend 'gurobi'"),
    (lambda: HypergraphPartitioner(neuron_limit=-1), "neuron_limit -1"),
    (lambda: MinCutPlacer(max_restarts=0), "min-cut placer: max_restarts 0"),
    (lambda: LocalSearchBinder(budget_per_step=True), "budget_per_step True"),
])
def test_option_values_are_checked(make, match):
    with pytest.raises(InvalidDataError, match=match):
        make()


def test_defaults_are_the_registries_constants():
    o = CompileOptions(model="m", hardware="h", calib="c")
    assert (o.partitioner, o.placer, o.binding) == (DEFAULT_PARTITIONER, DEFAULT_PLACER, DEFAULT_BINDER)


def test_compile_refuses_an_unknown_strategy_before_any_work(tmp_path):
    with pytest.raises(UnknownStrategyError, match="unknown binder 'fastest'; known: in-order, load-balance"):
        compile_model(CompileOptions(model=str(tmp_path / "missing.pt"), hardware="xbar-mesh", calib="digits",
                                     binding="fastest", output=str(tmp_path / "out")), quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_strategies_and_pipeline_are_cheap_to_import():
    code = ("import sys, spikeforge.strategies, spikeforge.pipeline; "
            "print(sorted(m for m in ('torch', 'scipy', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
