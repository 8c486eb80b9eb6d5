import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import InvalidNetworkError, ShapeError, UnsupportedLayerError
from spikeforge.ir.network import (
    IF,
    LIF,
    NODE_TYPES,
    Add,
    AvgPool2d,
    Concat,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    Input,
    Linear,
    MaxPool2d,
    Network,
    ReLU,
    SparseLinear,
    Upsample,
)
from spikeforge.ir.scales import propagate_scales


def small_cnn():
    return Network((
        Input("x", (), (2, 8, 8)),
        Conv2d("c1", ("x",), np.ones((4, 2, 3, 3), np.float32), np.zeros(4, np.float32), padding=1),
        ReLU("r1", ("c1",)),
        MaxPool2d("p1", ("r1",), kernel=2),
        Upsample("u1", ("p1",), scale=2),
        Concat("cat", ("u1", "r1")),
        ConvTranspose2d("t1", ("cat",), np.ones((8, 3, 2, 2), np.float32), None, stride=2),
        AvgPool2d("p2", ("t1",), kernel=4),
        Flatten("f", ("p2",)),
        Linear("fc", ("f",), np.ones((5, 48), np.float32), None),
    ), outputs=("fc",))


def test_shapes_are_inferred():
    net = small_cnn()
    assert net.shape("c1") == (4, 8, 8)
    assert net.shape("p1") == (4, 4, 4)
    assert net.shape("cat") == (8, 8, 8)
    assert net.shape("t1") == (3, 16, 16)
    assert net.shape("fc") == (5,)
    assert net.kind == "ann"
    assert net.input.name == "x"


def test_arrays_are_read_only_and_nodes_frozen():
    net = small_cnn()
    with pytest.raises(ValueError):
        net.node("c1").weight[0, 0, 0, 0] = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.node("c1").groups = 2


def test_source_array_is_copied():
    w = np.ones((2, 2), np.float32)
    lin = Linear("fc", ("x",), w, None)
    w[0, 0] = 7
    assert lin.weight[0, 0] == 1


@pytest.mark.parametrize("shape,kernel,stride,padding,dilation", [
    ((3, 7, 9), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 10, 10), (5, 3), (2, 3), (2, 0), (1, 2)),
    ((1, 5, 5), (2, 2), (2, 2), (1, 1), (1, 1)),
])
def test_conv_synapse_count_matches_brute_force(shape, kernel, stride, padding, dilation):
    c_out = 4
    w = np.ones((c_out, shape[0], *kernel), np.float32)
    net = Network((Input("x", (), shape), Conv2d("c", ("x",), w, None, stride, padding, dilation)), ("c",))
    # Brute force: count (input, output) pairs with a weight, via the conv of ones with ones.
    x = torch.ones(1, *shape)
    y = F.conv2d(x, torch.ones(c_out, shape[0], *kernel), None, stride, padding, dilation)
    assert net.synapse_count(net.node("c")) == int(y.sum())


def test_conv_transpose_synapse_count_matches_brute_force():
    w = np.ones((3, 2, 3, 3), np.float32)
    net = Network((Input("x", (), (3, 5, 5)), ConvTranspose2d("t", ("x",), w, None, stride=2, padding=1)), ("t",))
    y = F.conv_transpose2d(torch.ones(1, 3, 5, 5), torch.ones(3, 2, 3, 3), None, stride=2, padding=1)
    assert net.synapse_count(net.node("t")) == int(y.sum())


def test_summary_totals():
    rows = small_cnn().summary()
    assert rows[0].name == "x"
    assert next(r for r in rows if r.name == "r1").neurons == 4 * 8 * 8
    assert next(r for r in rows if r.name == "fc").synapses == 5 * 48


def test_synapse_counts_by_layer_type():
    net = Network((Input("x", (), (2, 4, 4)), AvgPool2d("p", ("x",), kernel=2),
                   Add("sum", ("p", "p"), gains=(np.float32(2.0), None)), Add("plain", ("sum", "p")),
                   Flatten("f", ("plain",)), Linear("fc", ("f",), np.ones((3, 8), np.float32))), ("fc",))
    counts = {n.name: net.synapse_count(n) for n in net.nodes}
    assert counts == {"x": 0, "p": 2 * 2 * 2 * 4, "sum": 2 * 8, "plain": 0, "f": 0, "fc": 24}


def test_layer_categories():
    weighted = {name for name, cls in NODE_TYPES.items() if cls.has_weights}
    assert weighted == {"Linear", "Conv2d", "ConvTranspose2d", "SparseLinear"}
    # AvgPool2d is a synapse layer with fixed weights; pooling and upsampling keep a per-channel scale.
    assert {name for name, cls in NODE_TYPES.items() if cls.is_synaptic} == weighted | {"AvgPool2d"}
    assert {name for name, cls in NODE_TYPES.items() if cls.keeps_scale} == {"AvgPool2d", "MaxPool2d", "Upsample"}


@pytest.mark.parametrize("groups", [1, 2])
def test_weight_channels_follow_the_groups(groups):
    conv = Conv2d("c", ("x",), np.ones((4, 4 // groups, 1, 1), np.float32), groups=groups)
    t = ConvTranspose2d("t", ("x",), np.ones((4, 6 // groups, 1, 1), np.float32), groups=groups)
    for node, n_out, axis in ((conv, 4, 0), (t, 6, 1)):
        in_ch, out_ch, bias_ch = node.weight_channels((4, 3, 3))
        pairs = {(int(o), int(i)) for o, i in zip(np.broadcast_to(out_ch, node.weight.shape).ravel(),
                                                  np.broadcast_to(in_ch, node.weight.shape).ravel())}
        assert pairs == {(o, i) for o in range(n_out) for i in range(4)
                         if o * groups // n_out == i * groups // 4}
        assert bias_ch.tolist() == list(range(n_out))


def test_one_scale_walk_carries_scales_through_layers_that_move_values():
    net = Network((Input("x", (), (2, 2, 2)), MaxPool2d("p", ("x",), kernel=1), Upsample("u", ("p",)),
                   Concat("cat", ("u", "u")), Flatten("f", ("cat",)), ReLU("r", ("f",))), ("r",))
    start = {"Input": lambda node, ins: (node, np.array([1.0, 2.0]))}
    with pytest.raises(UnsupportedLayerError, match=r"layer r \(ReLU\) of network network: no rule"):
        propagate_scales(net, start)
    nodes, scales = propagate_scales(net, start | {"ReLU": lambda node, ins: (node, ins[0] * 2)})
    assert nodes == net.nodes
    assert scales["cat"].tolist() == [1.0, 2.0, 1.0, 2.0]
    assert scales["r"].tolist() == ([2.0] * 16 + [4.0] * 16) * 2
    with pytest.raises(UnsupportedLayerError, match=r"no layer types named \['Relu'\]"):
        propagate_scales(net, start | {"Relu": lambda node, ins: (node, ins[0])})


def test_neuron_nodes_make_an_snn():
    net = Network((Input("x", (), (3,)), Linear("fc", ("x",), np.eye(3, dtype=np.float32)),
                   IF("s", ("fc",), threshold=np.ones(3, np.float32)), LIF("l", ("s",), threshold=1.0, beta=0.9)),
                  ("l",))
    assert net.kind == "snn"
    assert net.neuron_count() == 6


def test_sparse_linear():
    pre, post = np.array([0, 1, 2]), np.array([1, 1, 0])
    net = Network((Input("x", (), (1, 1, 3)), SparseLinear("sp", ("x",), pre, post, np.ones(3, np.float32), n_out=2)),
                  ("sp",))
    assert net.shape("sp") == (2,)
    assert net.synapse_count(net.node("sp")) == 3


@pytest.mark.parametrize("build,error,match", [
    (lambda: Network((Input("x", (), (3,)), Input("x", (), (3,))), ("x",)), InvalidNetworkError, "used twice"),
    (lambda: Network((Input("x", (), (3,)), ReLU("r", ("y",))), ("r",)), InvalidNetworkError, "not an earlier layer"),
    (lambda: Network((Input("x", (), (3,)),), ("z",)), InvalidNetworkError, "output 'z'"),
    (lambda: Network((Input("x", (), (3,)), Add("a", ("x",))), ("a",)), InvalidNetworkError, "two or more"),
    (lambda: Network((Input("x", (), (4,)), Linear("fc", ("x",), np.ones((2, 3), np.float32))), ("fc",)),
     ShapeError, r"fc \(Linear\): weight \(2, 3\) does not take 4 inputs"),
    (lambda: Network((Input("x", (), (2, 4, 4)), Conv2d("c", ("x",), np.ones((3, 1, 3, 3), np.float32))), ("c",)),
     ShapeError, "takes 1 input channels, input has 2"),
    (lambda: Network((Input("x", (), (2, 4, 4)), Input("y", (), (2, 5, 5)), Add("a", ("x", "y"))), ("a",)),
     ShapeError, "differ"),
    (lambda: Linear("fc", ("x",), np.array([[np.nan, 1.0]], np.float32)), InvalidNetworkError,
     r"fc.weight: 1 of 2 values are NaN or Inf"),
    (lambda: Input("x", (), (0, 3)), ShapeError, "positive"),
    (lambda: ReLU("r", ("x",), levels=4), InvalidNetworkError, "needs a clip"),
    (lambda: LIF("l", ("x",), threshold=1.0, beta=1.5), InvalidNetworkError, "beta=1.5"),
    (lambda: Network((Input("x", (), (3,)), IF("s", ("x",), threshold=-1.0)), ("s",)), InvalidNetworkError,
     "thresholds must be > 0"),
    (lambda: Network((Input("x", (), (2, 3, 3)), MaxPool2d("p", ("x",), kernel=4)), ("p",)), ShapeError,
     r"kernel \(4, 4\) does not fit"),
])
def test_invalid_networks_raise_named_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 4), h=st.integers(3, 12), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1))
def test_conv_shape_matches_torch(c, h, k, s, p):
    w = np.ones((2, c, k, k), np.float32)
    net = Network((Input("x", (), (c, h, h)), Conv2d("c", ("x",), w, None, s, p)), ("c",))
    expected = F.conv2d(torch.zeros(1, c, h, h), torch.as_tensor(w), None, s, p).shape[1:]
    assert net.shape("c") == tuple(expected)


def test_an_array_where_a_number_goes_is_named_on_one_line():
    """A neuron field given an array (e.g. a hand-edited network.json) gives a one-line error."""
    import numpy as np
    import pytest

    from spikeforge.errors import InvalidNetworkError
    from spikeforge.ir import network as ir

    with pytest.raises(InvalidNetworkError, match=r"v_init=array\(.*\.\.\. \(ndarray\) must be a number") as info:
        ir.IF("s", ("x",), threshold=np.float32(1), v_init=np.ones((2, 3, 3)))
    assert "\n" not in str(info.value)
