"""A corpus of NIR graphs no exporter here wrote, built with the ``nir`` package (never stored):
the shapes real exporters produce (snnTorch, Norse, sinabs, Rockpool, Lava) and their corners —
nested subgraphs, several edges into a node, Scale, Linear without bias, Conv1d, Conv2d with
groups / dilation / stride / padding, pooling, Flatten variants, 1-D and 3-D inputs, types given
or missing, per-neuron and scalar parameters, LI / CubaLI / I read-outs, recurrence, Delay,
Threshold, leaky and resistive LIF, time constants near ``dt``.

Each :class:`Case` either runs (import, simulate, export, re-import: the same) or is refused with a
one-line error naming the node and its type (``refused``: the error class and a pattern).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np

from spikeforge.errors import InvalidNetworkError, ShapeError, UnsupportedLayerError

DT = 1e-4


@dataclass(frozen=True)
class Case:
    build: Callable[[], nir.NIRGraph]
    dt: float | None = DT
    reset: str = "nir"
    refused: tuple[type[Exception], str] | None = None


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def inp(*shape: int) -> nir.Input:
    return nir.Input(input_type={"input": np.array(shape)})


def out(*shape: int) -> nir.Output:
    return nir.Output(output_type={"output": np.array(shape)})


def affine(n_out: int, n_in: int, seed: int = 0, low: float = -0.2, high: float = 0.8, bias: bool = True):
    w = _rng(seed).uniform(low, high, (n_out, n_in))
    return nir.Affine(weight=w, bias=_rng(seed + 1).uniform(-0.05, 0.05, n_out)) if bias else nir.Linear(weight=w)


def lif(shape, tau=1e-3, r=None, v_leak=0.0, theta=0.3, v_reset=0.0) -> nir.LIF:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    tau_a = np.full(shape, tau)
    return nir.LIF(tau=tau_a, r=np.full(shape, tau / DT if r is None else r), v_leak=np.full(shape, v_leak),
                   v_threshold=np.full(shape, theta), v_reset=np.full(shape, v_reset))


def cuba_lif(n, tau_syn=5e-4, tau_mem=1e-3, theta=0.3) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / DT),
                       v_leak=np.zeros(n), v_threshold=np.full(n, theta), v_reset=np.zeros(n),
                       w_in=np.full(n, tau_syn / DT))


def if_(shape, theta=1.0) -> nir.IF:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, theta), v_reset=np.zeros(shape))


def li(shape, tau=1e-3, r=None, v_leak=0.0) -> nir.LI:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return nir.LI(tau=np.full(shape, tau), r=np.full(shape, tau / DT if r is None else r), v_leak=np.full(shape, v_leak))


def chain(shape_in, shape_out, *layers) -> nir.NIRGraph:
    """Input → layers … → Output, named by position."""
    names = [f"l{i}" for i in range(len(layers))]
    nodes = {"input": inp(*shape_in), **dict(zip(names, layers)), "output": out(*shape_out)}
    seq = ["input", *names, "output"]
    return graph(nodes, list(itertools.pairwise(seq)))


def conv2d(c_out, c_in, k, hw, seed=0, **kw) -> nir.Conv2d:
    opts = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1} | kw
    w = _rng(seed).uniform(-0.1, 0.5, (c_out, c_in // opts["groups"], k, k))
    return nir.Conv2d(input_shape=np.array(hw), weight=w, bias=np.zeros(c_out), **opts)


# -- the graphs ----------------------------------------------------------------------------------

def mlp_lif():
    return chain((12,), (4,), affine(16, 12), lif(16), affine(4, 16, 2), lif(4))


def mlp_li_readout():  # snnTorch / Norse: … → Linear (no bias) → LI
    return chain((12,), (4,), affine(16, 12), lif(16), affine(4, 16, 2, bias=False), li(4))


def mlp_cubali_readout():  # Rockpool / Lava: CubaLIF layers, CubaLI read-out
    ro = nir.CubaLI(tau_syn=np.full(4, 4e-4), tau_mem=np.full(4, 2e-3), r=np.full(4, 3.0), v_leak=np.zeros(4),
                    w_in=np.full(4, 2.0))
    return chain((12,), (4,), affine(16, 12), cuba_lif(16), affine(4, 16, 2), ro)


def if_i_readout():  # sinabs-style IAF with an integrator read-out
    return chain((12,), (4,), affine(16, 12, low=0, high=0.4), if_(16), affine(4, 16, 2), nir.I(r=np.full(4, 0.5)))


def threshold_hidden():
    th = nir.Threshold(threshold=np.full(16, 0.8))
    return chain((12,), (4,), affine(16, 12), th, affine(4, 16, 2), lif(4))


def threshold_output():
    return chain((6,), (6,), affine(6, 6), nir.Threshold(threshold=np.linspace(0.2, 1.0, 6)))


def scale_on_input():
    return chain((8,), (8,), nir.Scale(scale=np.linspace(0.5, 2.0, 8)), lif(8, theta=0.05))


def linear_then_scale():
    return chain((8,), (6,), affine(6, 8, bias=False), nir.Scale(scale=np.full(6, 2.0)), lif(6))


def lif_leak_and_resistance():  # v_leak ≠ 0 and r ≠ τ/dt
    return chain((8,), (6,), affine(6, 8), lif(6, tau=2e-3, r=3.0, v_leak=0.4, theta=0.2, v_reset=0.05))


def lif_scalar_params():  # time constants and thresholds as single values
    n = lif(6)
    n.tau, n.r, n.v_leak, n.v_threshold, n.v_reset = (np.array([1e-3]), np.array(10.0), np.array(0.0),
                                                      np.array([0.3]), np.array(0.0))
    return chain((8,), (6,), affine(6, 8), n)


def lif_per_neuron_threshold():
    n = lif(6)
    n.v_threshold = np.linspace(0.1, 0.6, 6)
    n.v_reset = np.zeros(6)
    return chain((8,), (6,), affine(6, 8), n)


def lif_tau_varies():  # one leak per neuron (as Rockpool trains them)
    n = lif(6)
    n.tau = np.linspace(1e-3, 2e-3, 6)
    return chain((8,), (6,), affine(6, 8), n)


def cuba_lif_taus_vary():  # synaptic and membrane time constants per neuron
    n = cuba_lif(6)
    n.tau_syn = np.linspace(3e-4, 9e-4, 6)
    n.w_in = n.tau_syn / DT
    n.tau_mem = np.linspace(2e-3, 1e-3, 6)
    n.r = n.tau_mem / DT
    return chain((8,), (6,), affine(6, 8), n)


def lif_tau_equals_dt():  # refused: forward Euler at dt = τ keeps no memory (write a Threshold)
    return chain((8,), (6,), affine(6, 8), lif(6, tau=DT, r=1.0, theta=0.5))


def lif_tau_two_dt():
    return chain((8,), (6,), affine(6, 8), lif(6, tau=2 * DT, theta=0.4))


def lif_tau_below_dt():  # refused: forward Euler would oscillate
    return chain((8,), (6,), affine(6, 8), lif(6, tau=DT / 2))


def conv1d_net():
    conv = nir.Conv1d(input_shape=16, weight=_rng(3).uniform(-0.1, 0.6, (4, 2, 3)), stride=2, padding=1,
                      dilation=1, groups=1, bias=np.zeros(4))
    flat = nir.Flatten(input_type={"input": np.array([4, 8])}, start_dim=0, end_dim=-1)
    return chain((2, 16), (3,), conv, if_((4, 8), theta=0.5), flat, affine(3, 32, 4), li(3))


def conv2d_groups_dilation():
    conv = conv2d(4, 2, 3, (10, 10), groups=2, dilation=2, stride=1, padding=2)
    return chain((2, 10, 10), (4, 10, 10), conv, lif((4, 10, 10), theta=0.2))


def conv2d_stride_padding():
    conv = conv2d(3, 2, 3, (9, 7), stride=np.array([2, 1]), padding=np.array([0, 2]))
    return chain((2, 9, 7), (3, 4, 9), conv, if_((3, 4, 9), theta=0.4))


def conv_avgpool_flatten():
    pool = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    flat = nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=2)
    return chain((2, 8, 8), (5,), conv2d(4, 2, 3, (8, 8), padding=1), if_((4, 8, 8), 0.5), pool,
                 if_((4, 4, 4), 0.3), flat, affine(5, 64, 5), lif(5))


def conv_sumpool_flatten():  # sinabs: SumPool2d's k² folded into the next weights
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    flat = nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1)
    return chain((2, 8, 8), (5,), conv2d(4, 2, 3, (8, 8), padding=1), if_((4, 8, 8), 0.5), pool, flat,
                 affine(5, 64, 5, low=0, high=0.1), if_(5, 0.5))


def sumpool_last():
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    return chain((2, 6, 6), (2, 3, 3), pool, if_((2, 3, 3), 1.5))


def flatten_partial():  # refused: spikeforge flattens whole feature maps
    flat = nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=1, end_dim=-1)
    flat.output_type = {"output": np.array([2, 16])}
    return chain((2, 4, 4), (2, 16), flat, if_((2, 16)))


def conv_li_readout():  # a per-pixel read-out on a feature map
    return chain((2, 6, 6), (3, 6, 6), conv2d(3, 2, 3, (6, 6), padding=1), li((3, 6, 6)))


def types_missing():  # exporters that leave every node's types empty but the Input's
    g = mlp_li_readout()
    for name, node in g.nodes.items():
        if name not in ("input", "output"):
            node.input_type, node.output_type = {}, {}
    return g


def input_without_shape():  # refused: nothing says the input's shape
    g = mlp_lif()
    g.nodes["input"] = nir.Input(input_type={"input": np.array([])})
    return g


def summed_edges():  # two Affines into one LIF, one LIF into two read-outs (two outputs)
    nodes = {"input": inp(8), "a": affine(6, 8, 0), "b": affine(6, 8, 1, bias=False), "lif": lif(6),
             "ro1": affine(3, 6, 2), "li1": li(3), "ro2": affine(2, 6, 3), "li2": li(2, tau=5e-4),
             "out1": out(3), "out2": out(2)}
    edges = [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "ro1"), ("ro1", "li1"),
             ("li1", "out1"), ("lif", "ro2"), ("ro2", "li2"), ("li2", "out2")]
    return graph(nodes, edges)


def nested_two_levels():
    inner = graph({"in": inp(6), "fc": affine(6, 6, 7), "lif": lif(6), "out": out(6)},
                  [("in", "fc"), ("fc", "lif"), ("lif", "out")])
    middle = graph({"in": inp(8), "fc": affine(6, 8, 8), "scale": nir.Scale(scale=np.full(6, 1.5)), "inner": inner,
                    "out": out(6)}, [("in", "fc"), ("fc", "scale"), ("scale", "inner"), ("inner", "out")])
    return graph({"input": inp(8), "block": middle, "ro": affine(3, 6, 9, bias=False), "li": li(3),
                  "output": out(3)}, [("input", "block"), ("block", "ro"), ("ro", "li"), ("li", "output")])


def edges_into_a_subgraph_by_dotted_name():  # edges name a subgraph's own Input / Output nodes
    inner = graph({"in": inp(6), "fc": affine(6, 6, 7), "lif": lif(6), "out": out(6)},
                  [("in", "fc"), ("fc", "lif"), ("lif", "out")])
    return graph({"input": inp(8), "pre": affine(6, 8, 2), "block": inner, "ro": affine(3, 6, 9), "li": li(3),
                  "output": out(3)},
                 [("input", "pre"), ("pre", "block.in"), ("block.out", "ro"), ("ro", "li"), ("li", "output")])


def threshold_in_a_loop():  # a recurrent Threshold layer: the loop is cut on the edge leaving it
    nodes = {"input": inp(6), "fc": affine(6, 6), "t": nir.Threshold(threshold=np.full(6, 0.6)),
             "rec": affine(6, 6, 3, -0.4, 0.4, bias=False), "ro": affine(2, 6, 4), "li": li(2), "output": out(2)}
    edges = [("input", "fc"), ("fc", "t"), ("t", "rec"), ("rec", "t"), ("t", "ro"), ("ro", "li"), ("li", "output")]
    return graph(nodes, edges)


def cuba_recurrent_affine():  # the Braille network's shape: a recurrent Affine closing a loop, no Delay
    nodes = {"input": inp(8), "fc": affine(10, 8), "cuba": cuba_lif(10), "rec": affine(10, 10, 3, -0.3, 0.3),
             "ro": affine(3, 10, 4), "li": nir.CubaLI(tau_syn=np.full(3, 5e-4), tau_mem=np.full(3, 1e-3),
                                                      r=np.full(3, 10.0), v_leak=np.zeros(3), w_in=np.full(3, 5.0)),
             "output": out(3)}
    edges = [("input", "fc"), ("fc", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "ro"), ("ro", "li"),
             ("li", "output")]
    return graph(nodes, edges)


def delay_feedforward():
    return chain((8,), (4,), affine(6, 8), lif(6), nir.Delay(delay=np.full(6, 3 * DT)), affine(4, 6, 2), lif(4))


def delay_fractional():  # refused: not a whole number of steps
    return chain((8,), (6,), affine(6, 8), lif(6), nir.Delay(delay=np.full(6, 2.5 * DT)))


def li_feeds_a_layer():  # refused: a read-out's graded output would feed synapses
    return chain((8,), (4,), affine(6, 8), li(6), affine(4, 6, 2), lif(4))


def li_non_finite_tau():  # refused
    n = li(4)
    n.tau = np.array([1e-3, np.inf, 1e-3, 1e-3])
    return chain((8,), (4,), affine(4, 8), n)


def threshold_shape_mismatch():  # refused
    return chain((8,), (4,), affine(4, 8), nir.Threshold(threshold=np.full(3, 0.5)))


def threshold_not_positive():  # refused: spikeforge's thresholds are > 0
    return chain((8,), (4,), affine(4, 8), nir.Threshold(threshold=np.array([0.5, 0.0, 0.5, 0.5])))


def cubalif_reset_nonzero():
    n = cuba_lif(6)
    n.v_reset = np.full(6, 0.1)
    return chain((8,), (6,), affine(6, 8), n)


CORPUS: dict[str, Case] = {
    "mlp_lif": Case(mlp_lif),
    "mlp_li_readout": Case(mlp_li_readout),
    "mlp_cubali_readout": Case(mlp_cubali_readout),
    "if_i_readout": Case(if_i_readout, dt=None),
    "threshold_hidden": Case(threshold_hidden),
    "threshold_output": Case(threshold_output, dt=None),
    "scale_on_input": Case(scale_on_input),
    "linear_then_scale": Case(linear_then_scale),
    "lif_leak_and_resistance": Case(lif_leak_and_resistance),
    "lif_scalar_params": Case(lif_scalar_params),
    "lif_per_neuron_threshold": Case(lif_per_neuron_threshold),
    "lif_tau_varies": Case(lif_tau_varies),
    "cuba_lif_taus_vary": Case(cuba_lif_taus_vary),
    "lif_tau_equals_dt": Case(lif_tau_equals_dt, refused=(
        InvalidNetworkError, r"NIR node 'l1' \(LIF\)\.tau: dt = 0\.0001 s is not below the time constant 0\.0001 s")),
    "lif_tau_two_dt": Case(lif_tau_two_dt),
    "lif_tau_below_dt": Case(lif_tau_below_dt, refused=(InvalidNetworkError,
                                                        r"NIR node 'l1' \(LIF\)\.tau: dt = 0\.0001 s is not below")),
    "conv1d_net": Case(conv1d_net),
    "conv2d_groups_dilation": Case(conv2d_groups_dilation),
    "conv2d_stride_padding": Case(conv2d_stride_padding, dt=None),
    "conv_avgpool_flatten": Case(conv_avgpool_flatten),
    "conv_sumpool_flatten": Case(conv_sumpool_flatten, dt=None, reset="subtract"),
    "sumpool_last": Case(sumpool_last, dt=None),
    "flatten_partial": Case(flatten_partial, refused=(UnsupportedLayerError,
                                                      r"NIR node 'l0' \(Flatten\): flattens dimensions 1\.\.-1")),
    "conv_li_readout": Case(conv_li_readout),
    "types_missing": Case(types_missing),
    "input_without_shape": Case(input_without_shape, refused=(ShapeError, r"NIR node 'input' \(Input\): no input shape")),
    "summed_edges": Case(summed_edges),
    "nested_two_levels": Case(nested_two_levels),
    "cuba_recurrent_affine": Case(cuba_recurrent_affine),
    "edges_into_a_subgraph_by_dotted_name": Case(edges_into_a_subgraph_by_dotted_name),
    "threshold_in_a_loop": Case(threshold_in_a_loop),
    "delay_feedforward": Case(delay_feedforward),
    "delay_fractional": Case(delay_fractional, refused=(InvalidNetworkError,
                                                        r"NIR node 'l2' \(Delay\): delay 0\.00025 s is not a whole")),
    "li_feeds_a_layer": Case(li_feeds_a_layer, refused=(InvalidNetworkError,
                                                        r"layer l2 \(Linear\) reads l1 \(LI\), a non-spiking read-out")),
    "li_non_finite_tau": Case(li_non_finite_tau, refused=(InvalidNetworkError,
                                                          r"NIR node 'l1' \(LI\)\.tau: 1 of 4 values are NaN or Inf")),
    "threshold_shape_mismatch": Case(threshold_shape_mismatch, refused=(
        ShapeError, r"NIR node 'l1' \(Threshold\): declares input \(3,\), the graph gives \(4,\)")),
    "threshold_not_positive": Case(threshold_not_positive, refused=(
        InvalidNetworkError, r"NIR node 'l1' \(Threshold\)\.threshold: 0 must be > 0")),
    "cubalif_reset_nonzero": Case(cubalif_reset_nonzero),
}
