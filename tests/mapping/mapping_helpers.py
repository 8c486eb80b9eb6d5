"""Small hand-built networks, hardware and partitions shared by the mapping tests and the mapping
CLI commands' tests (``from mapping_helpers import ...`` in tests/mapping,
``from mapping.mapping_helpers import ...`` elsewhere: ``tests`` is on ``pythonpath``)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from spikeforge.hardware import load_hardware
from spikeforge.ir import network as ir
from spikeforge.ir.partition import Partition
from spikeforge.ir.placement import Placement
from spikeforge.mapping.report import mapping_energy
from spikeforge.sim.simulator import simulate


def small_hw(rows=4, cols=4, chips=1, mesh=2):
    """``xbar-mesh`` with ``rows × cols`` crossbars, one per core, ``mesh × mesh`` cores per chip."""
    return load_hardware("xbar-mesh").replace(
        core={"crossbar_rows": rows, "crossbar_columns": cols, "neurons_per_core": cols,
              "max_fan_in_per_neuron": rows},
        chip={"mesh_x": mesh, "mesh_y": mesh}).with_chips(chips)


def dense_net(n_in=4, n_hidden=4, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return ir.Network((ir.Input("x", (), (n_in,)),
                       ir.Linear("fc1", ("x",), rng.random((n_hidden, n_in)).astype(np.float32) + 0.1),
                       ir.IF("n1", ("fc1",), threshold=np.float32(1.0)),
                       ir.Linear("fc2", ("n1",), rng.random((n_out, n_hidden)).astype(np.float32) + 0.1),
                       ir.IF("n2", ("fc2",), threshold=np.float32(1.0))), outputs=("n2",), name="dense")


def conv_net(c=2, size=6, seed=0):
    rng = np.random.default_rng(seed)
    return ir.Network((ir.Input("x", (), (1, size, size)),
                       ir.Conv2d("c1", ("x",), rng.random((c, 1, 3, 3)).astype(np.float32), padding=(1, 1)),
                       ir.IF("n1", ("c1",), threshold=np.float32(1.0)),
                       ir.AvgPool2d("p", ("n1",), kernel=(2, 2)),
                       ir.Conv2d("c2", ("p",), rng.random((c, c, 3, 3)).astype(np.float32), padding=(1, 1)),
                       ir.IF("n2", ("c2",), threshold=np.float32(0.5)),
                       ir.Flatten("f", ("n2",)),
                       ir.Linear("fc", ("f",), rng.random((3, c * (size // 2) ** 2)).astype(np.float32))),
                      outputs=("fc",), name="conv")


def profile_of(net, seed=0):
    x = np.random.default_rng(seed).random((2, *net.input.shape)).astype(np.float32) * 2
    return simulate(net, x, timesteps=4).profile


def random_graph(n, seed, density=0.2):
    """A symmetric random traffic matrix of ``n`` clusters, positive weights, no self-loops."""
    rng = np.random.default_rng(seed)
    m = sp.random(n, n, density=density, random_state=seed, data_rvs=lambda k: rng.random(k) + 0.01)
    m = (m + m.T).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def graph_partition(traffic, partial=None):
    """A partition of one crossbar per cluster (one neuron, one row each) whose spikes flow as
    ``traffic`` (and partial sums as ``partial``): any cluster graph, without a network."""
    n = traffic.shape[0]
    return Partition(network="graph", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
                     layers=("a",), layer_shapes=((n, 1, 1),), piece_cluster=np.arange(n),
                     piece_layer=np.zeros(n, np.int64), piece_part=np.zeros(n, np.int64),
                     piece_box=[[i, i + 1, 0, 1, 0, 1] for i in range(n)],
                     cluster_rows=np.ones(n, np.int64), cluster_synapses=np.ones(n, np.int64),
                     cluster_memory_bits=np.ones(n, np.int64), cluster_spikes=np.zeros(n),
                     cluster_synops=np.zeros(n), traffic=sp.csr_matrix(traffic),
                     partial_traffic=sp.csr_matrix((n, n)) if partial is None else sp.csr_matrix(partial),
                     limits={})


def chips_hw(per_chip, chips):
    """``xbar-mesh`` with ``per_chip`` one-crossbar cores per chip (a 1-row mesh) and ``chips`` chips."""
    return load_hardware("xbar-mesh").replace(chip={"mesh_x": per_chip, "mesh_y": 1}).with_chips(chips)


def interchip_traffic(pl):
    """Tokens (spikes and partial sums) that cross between chips per timestep: the cut of the placement."""
    p, chip = pl.partition, pl.cluster_chip
    return sum(float(m.data[chip[m.row] != chip[m.col]].sum()) for m in (p.traffic.tocoo(), p.partial_traffic.tocoo()))


def hop_cost(pl, cluster_core=None):
    """Traffic × routing cost the placers minimise, from the public energy model's hop counts:
    on-chip hops at the hardware's energy per hop, chip crossings at its energy per transfer."""
    hw = pl.hardware
    core = pl.cluster_core if cluster_core is None else cluster_core
    use = mapping_energy(pl.partition, hw, core, profile=None, time_s=0.0)
    return use.hops * hw.energy.per_hop_pj + use.interchip_hops * hw.energy.per_interchip_transfer_pj


def same_blocks(a, b):
    """Whether two chip assignments group the clusters alike (equal up to renaming the chips)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def relabelled(pl, order):
    """The placement with cluster ``i`` in the same core position on chip ``order[chip_i]`` instead."""
    cpc = pl.hardware.cores_per_chip
    chip, local = np.divmod(pl.cluster_core, cpc)
    return Placement(pl.partition, pl.hardware, pl.strategy, np.asarray(order)[chip] * cpc + local, pl.cluster_slot)
