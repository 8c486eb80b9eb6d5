"""Barrier-synchronised chips (issue 22, item 3): timesteps never overlap across cores.

Without the barrier a cluster may work on timestep t+1 while the next one still integrates t, so
the period is the busiest cluster's time. With it every timestep ends for all cores at once: the
period is the longest chain of one timestep (neuron phase, link, synaptic phase) plus the barrier.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from spikeforge.dataflow.build import (
    BARRIER,
    TICK,
    build_sdfg,
    guarantee,
    placement_guarantee,
)
from spikeforge.dataflow.selftimed import simulate as selftimed
from spikeforge.errors import InvalidHardwareSpecError
from spikeforge.hardware import load_hardware
from spikeforge.hardware.spec import hardware_to_toml, parse_toml
from spikeforge.ir.hardware import hardware_from_dict
from spikeforge.ir.partition import Partition
from spikeforge.mapping.place import place


def two_clusters() -> Partition:
    """Cluster 0 (2 neurons, no input synapses) sends 1 spike per timestep to cluster 1 (2 synaptic
    events per timestep)."""
    return Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
                     layers=("a", "b"), layer_shapes=((2, 1, 1), (2, 1, 1)), piece_cluster=[0, 1],
                     piece_layer=[0, 1], piece_part=[0, 0], piece_box=[[0, 2, 0, 1, 0, 1], [0, 2, 0, 1, 0, 1]],
                     cluster_rows=[1, 2], cluster_synapses=[2, 4], cluster_memory_bits=[16, 32],
                     cluster_spikes=[1.0, 0.5], cluster_synops=[0, 2.0],
                     traffic=sp.csr_matrix(([1.0], ([0], [1])), shape=(2, 2)),
                     partial_traffic=sp.csr_matrix((2, 2)), limits={})


def chip(barrier: bool, **timing):
    return load_hardware("xbar-mesh").replace(**{"timing.crossbar_eval_ns": 10.0, "timing.synop_ns": 7.0,
                                                  "timing.neuron_update_ns": 1.0, "timing.timestep_barrier": barrier,
                                                  "timing.barrier_ns": 50.0,
                                                  **{f"timing.{k}": v for k, v in timing.items()}})


def test_the_barrier_stops_timesteps_overlapping():
    part = two_clusters()
    pipelined = chip(False)
    placement = place(part, pipelined, strategy="fill")
    free = guarantee(build_sdfg(placement, None, pipelined, timesteps=3), 3, part)
    # each cluster alone: c0 = 10 + 2·1, c1 = 10 + 2·1 + 2·7; timesteps overlap across the link
    assert free.period_ns == pytest.approx(26.0)
    barrier = chip(True)
    graph = build_sdfg(placement, None, barrier, timesteps=3)
    link = next(a.execution_time for a in graph.actors if a.name == "link[s0_1]")
    g = guarantee(graph, 3, part)
    # one timestep: c0's neuron phase, the spike's transfer, c1's synaptic phase, then the barrier
    assert g.period_ns == pytest.approx(12.0 + link + 14.0 + 50.0)
    assert set(g.critical_actors) == {"c0", "link[s0_1]", "y1", BARRIER}
    assert "the timestep barrier" in g.bottleneck
    assert placement_guarantee(placement, None, barrier, timesteps=3).period_ns == pytest.approx(g.period_ns)
    # self-timed execution reaches the guarantee and never beats it
    assert float(selftimed(graph, 40, warmup=20).throughput) == pytest.approx(1 / g.period_ns, rel=1e-9)


def test_phases_share_their_crossbar_in_order():
    placement = place(two_clusters(), chip(True), strategy="fill")
    graph = build_sdfg(placement, None, chip(True), timesteps=2)
    orders = dict(graph.static_orders)
    assert orders["xbar0"] == ("c0", "y0") and orders["xbar1"] == ("c1", "y1")
    assert orders[BARRIER] == (BARRIER,) and TICK not in orders


def test_a_tick_bounds_the_period():
    part = two_clusters()
    ticked = chip(True, timestep_ns=1000.0)
    placement = place(part, ticked, strategy="fill")
    g = guarantee(build_sdfg(placement, None, ticked, timesteps=2), 2, part)
    assert g.period_ns == pytest.approx(1000.0) and g.critical_actors == (TICK,)
    assert placement_guarantee(placement, None, ticked, timesteps=2).period_ns == pytest.approx(1000.0)


def test_presets_say_which_chips_synchronise():
    loihi, truenorth, mesh = (load_hardware(n) for n in ("loihi", "truenorth", "xbar-mesh"))
    assert loihi.timing.timestep_barrier and loihi.timing.barrier_ns == 1800.0
    assert truenorth.timing.timestep_barrier and truenorth.timing.timestep_ns == 1e6
    assert not mesh.timing.timestep_barrier
    assert hardware_from_dict(parse_toml(hardware_to_toml(loihi), source="loihi.toml")) == loihi


def test_bad_barrier_fields():
    mesh = load_hardware("xbar-mesh")
    with pytest.raises(InvalidHardwareSpecError, match=r"timing.timestep_barrier = 'yes': .*bool"):
        mesh.replace(**{"timing.timestep_barrier": "yes"})
    with pytest.raises(InvalidHardwareSpecError, match=r"timing.barrier_ns = -1.0: must be ≥ 0"):
        mesh.replace(**{"timing.barrier_ns": -1.0})


def test_loihi_guarantee_is_not_beaten_by_the_chain_it_ignored():
    """On Loihi the barrier graph's period is at least every cluster's own time plus the barrier."""
    part = two_clusters()
    hw = load_hardware("loihi")
    placement = place(part, hw, strategy="fill")
    g = guarantee(build_sdfg(placement, None, hw, timesteps=2), 2, part)
    per_cluster = hw.timing.crossbar_eval_ns + part.cluster_columns * hw.timing.neuron_update_ns \
        + np.asarray(part.cluster_synops) * hw.timing.synop_ns
    assert g.period_ns >= per_cluster.max() + hw.timing.barrier_ns
