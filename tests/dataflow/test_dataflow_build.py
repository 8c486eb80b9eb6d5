"""build_sdfg on a small mapped network: digits CNN (untrained) on xbar-mesh."""

from __future__ import annotations

import pytest
import torch

from spikeforge.convert.normalise import convert
import numpy as np
import scipy.sparse as sp

from spikeforge.dataflow.analysis import first_iteration_end, throughput
from spikeforge.dataflow.binding import Platform, bind
from spikeforge.dataflow.build import application_graph, build_sdfg, guarantee, placement_guarantee
from spikeforge.dataflow.selftimed import simulate as selftimed
from spikeforge.datasets import digits
from spikeforge.errors import CapacityError, DeadlockError, InvalidDataError
from spikeforge.ir.partition import Partition
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware import load_hardware
from spikeforge.mapping.partition import partition
from spikeforge.mapping.place import place
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate


@pytest.fixture(scope="module")
def mapped():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    data = digits("train").take(16)
    snn = convert(import_torch(model, shape, name="digits-cnn"), data.x)
    profile = simulate(snn, data.x, timesteps=4).profile
    hw = load_hardware("xbar-mesh")
    part = partition(snn, profile, hw, strategy="tiles")
    return part, place(part, hw), profile, hw


def test_actors_are_clusters_plus_links(mapped):
    part, pl, profile, hw = mapped
    g = build_sdfg(pl, profile, hw, timesteps=4)
    clusters = [a for a in g.actors if not a.name.startswith("link[")]
    links = [a for a in g.actors if a.name.startswith("link[")]
    assert len(clusters) == part.n_clusters
    n_edges = len(part.edges()[0])
    # every forward channel and its credit back-edge cross cores (one cluster per core here)
    assert len(links) == 2 * n_edges
    assert all(a.execution_time == pytest.approx(hw.timing.crossbar_eval_ns) for a in clusters)
    selfloops = [c for c in g.channels if c.src == c.dst and c.src.startswith("c")]
    assert len(selfloops) == part.n_clusters and all(c.initial_tokens == 1 for c in selfloops)
    sizes = {c.name: c.token_size for c in g.channels if c.name.startswith("s")}
    assert all(s >= 1 for s in sizes.values())


def test_analysed_throughput_equals_selftimed(mapped):
    part, pl, profile, hw = mapped
    g = build_sdfg(pl, profile, hw, timesteps=4)
    analysed = throughput(g)
    measured = selftimed(g, 40, warmup=20).throughput
    assert float(measured) == pytest.approx(float(analysed.throughput), rel=1e-9)
    r = guarantee(g, 4, part)
    assert r.inferences_per_s == pytest.approx(1e9 / (4 * r.period_ns))
    assert r.latency_simulated and r.latency_ns >= 4 * max(a.execution_time for a in g.actors)
    assert "layer" in r.bottleneck


@pytest.mark.parametrize("crossbars", [None, 4])
def test_large_graph_latency_is_the_simulated_first_iteration(mapped, crossbars):
    part, pl, profile, hw = mapped
    platform = Platform.from_hardware(hw)
    schedule = None if crossbars is None else bind(application_graph(part, profile, hw), platform, "pipeline",
                                                   crossbars=crossbars)
    g = build_sdfg(pl, profile, hw, timesteps=4, schedule=schedule, platform=platform)
    first = float(selftimed(g, 1, warmup=0).iteration_end[0])
    assert first_iteration_end(g) == pytest.approx(first, rel=1e-12)
    small, large = guarantee(g, 4, part), guarantee(g, 4, part, simulate_limit=len(g.actors) - 1)
    assert not large.latency_simulated and large.latency_ns == pytest.approx(first + 3 * small.period_ns)


def test_time_multiplexed_schedule_matches_bind(mapped):
    part, pl, profile, hw = mapped
    platform = Platform.from_hardware(hw)
    app = application_graph(part, profile, hw)
    s = bind(app, platform, "pipeline", crossbars=4)
    g = build_sdfg(pl, profile, hw, timesteps=4, schedule=s, platform=platform)
    assert len({a.processor for a in g.actors if a.name.startswith("c")}) <= 4
    assert float(throughput(g).period) == pytest.approx(s.period, rel=1e-9)
    assert float(selftimed(g, 40, warmup=20).throughput) == pytest.approx(1 / s.period, rel=1e-9)


def test_bad_timesteps(mapped):
    _, pl, profile, hw = mapped
    with pytest.raises(InvalidDataError, match="build_sdfg: timesteps 0: must be ≥ 1"):
        build_sdfg(pl, profile, hw, timesteps=0)


@pytest.mark.parametrize("placer", ["fill", "round-robin", "min-cut"])
@pytest.mark.parametrize("hw_name", ["xbar-mesh", "loihi"])
def test_placement_guarantee_equals_the_built_graphs(mapped, placer, hw_name):
    """Folding each communication actor into its channel changes no cycle ratio: the array
    path gives the built graph's period, and its latency estimate from the same first iteration."""
    part, _, profile, _ = mapped
    hw = load_hardware(hw_name)
    pl = place(part, hw, strategy=placer, chips=-(-part.n_clusters // hw.crossbars_per_chip))
    built = guarantee(build_sdfg(pl, profile, hw, timesteps=4), 4, part, simulate_limit=0)
    fast = placement_guarantee(pl, profile, hw, timesteps=4)
    assert fast.period_ns == pytest.approx(built.period_ns, rel=1e-12)
    assert fast.latency_ns == pytest.approx(built.latency_ns, rel=1e-12)
    assert not fast.latency_simulated and fast.inferences_per_s == pytest.approx(built.inferences_per_s)
    phases = {f"{p}{i}" for i in range(part.n_clusters) for p in ("cy" if hw.timing.timestep_barrier else "c")}
    assert set(fast.critical_actors) <= phases | {"barrier", "tick"} | \
        {a for a in fast.critical_actors if a.startswith("link[")}


def _two_cluster_partition(forward_back: bool) -> Partition:
    """Clusters 0 and 1 with a connection 0 -> 1, and with ``forward_back`` also 1 -> 0 (a cycle of
    connections: both spike channels carry no tokens)."""
    rows, cols = ([0, 1], [1, 0]) if forward_back else ([0], [1])
    return Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
                     layers=("a", "b"), layer_shapes=((2, 1, 1), (2, 1, 1)), piece_cluster=[0, 1],
                     piece_layer=[0, 1], piece_part=[0, 0], piece_box=[[0, 2, 0, 1, 0, 1]] * 2,
                     cluster_rows=[1, 2], cluster_synapses=[2, 4], cluster_memory_bits=[16, 32],
                     cluster_spikes=[1.0, 0.5], cluster_synops=[0, 2.0],
                     traffic=sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(2, 2)),
                     partial_traffic=sp.csr_matrix((2, 2)), limits={})


def test_placement_guarantee_names_a_deadlock_and_refuses_what_it_cannot_model():
    hw = load_hardware("xbar-mesh")
    with pytest.raises(DeadlockError, match=r"cycle c\d -> c\d -> c\d is blocked"):
        placement_guarantee(place(_two_cluster_partition(True), hw, strategy="fill"), None, timesteps=2)
    pl = place(_two_cluster_partition(False), hw, strategy="fill")
    with pytest.raises(InvalidDataError, match="timesteps"):
        placement_guarantee(pl, None, timesteps=0)
    with pytest.raises(CapacityError, match="outside the platform's 1"):
        placement_guarantee(pl, None, timesteps=2, platform=Platform(1))
