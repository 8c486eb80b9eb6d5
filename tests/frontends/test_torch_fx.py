import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikeforge.errors import ShapeError, UnsupportedLayerError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir import network as ir
from spikeforge.models import build_model
from spikeforge.models.layers import QCFS
from spikeforge.sim.simulator import run_ann


def check_equivalent(model, shape, atol=1e-4):
    torch.manual_seed(1)
    x = torch.rand(5, *shape)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    net = import_torch(model, shape)
    np.testing.assert_allclose(run_ann(net, x.numpy()), expected, atol=atol, rtol=1e-4)
    return net


def test_sequential_with_dropout_removed():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    net = check_equivalent(model, (3, 2, 2))
    assert [type(n).__name__ for n in net.nodes] == ["Input", "Flatten", "Linear", "ReLU", "Linear"]


def test_residual_block_with_batchnorm_and_functional_relu(residual_model):
    net = check_equivalent(residual_model, (1, 8, 8))
    kinds = [type(n).__name__ for n in net.nodes]
    assert "BatchNorm2d" not in kinds and kinds.count("ReLU") == 3 and "Add" in kinds


@pytest.mark.parametrize("name,options", [
    ("digits-cnn", {}), ("lenet5", {}), ("mlp", {"hidden": (16,)}),
    ("vgg", {"config": "small", "width": 0.1}), ("resnet18", {"width": 0.1}),
    ("unet", {"size": 32, "base": 4, "depth": 2}),
])
def test_zoo_models_import_exactly(name, options):
    model, shape = build_model(name, **options)
    with torch.no_grad():  # make BatchNorm non-trivial
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    check_equivalent(model, shape, atol=1e-3)


def test_unet_has_concat_and_transposed_conv():
    model, shape = build_model("unet", size=32, base=4, depth=2)
    net = import_torch(model, shape)
    kinds = {type(n).__name__ for n in net.nodes}
    assert {"Concat", "ConvTranspose2d", "AvgPool2d"} <= kinds


def test_qcfs_becomes_quantised_relu():
    model = nn.Sequential(nn.Linear(4, 4), QCFS(levels=4, clip=2.0))
    net = check_equivalent(model, (4,))
    relu = net.nodes[-1]
    assert isinstance(relu, ir.ReLU) and relu.levels == 4 and relu.clip == pytest.approx(2.0)


def test_functional_ops_view_cat_interpolate_pool():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 3, 3, padding="same")
            self.b = nn.Conv2d(2, 3, 1)
            self.fc = nn.Linear(6 * 4 * 4, 2)

        def forward(self, x):
            y = torch.cat([F.relu(self.a(x)), self.b(x).relu()], dim=1)
            y = F.max_pool2d(y, 2)
            y = F.interpolate(F.avg_pool2d(y, 2), scale_factor=2, mode="nearest")
            y = F.adaptive_avg_pool2d(y, 4)
            return self.fc(y.view(y.size(0), -1))

    net = check_equivalent(Net(), (2, 8, 8))
    assert any(isinstance(n, ir.Upsample) for n in net.nodes)


@pytest.mark.parametrize("body,match", [
    (lambda x: torch.sigmoid(x), r"function 'sigmoid' at <top level>"),
    (lambda x: x * x, r"function 'mul' .* \(the product of two network tensors is not linear\)"),
    (lambda x: torch.cat([x, x], dim=2), "only channels"),
])
def test_unsupported_functions_are_named(body, match):
    class Net(nn.Module):
        def forward(self, x):
            return body(x)

    with pytest.raises(UnsupportedLayerError, match=match):
        import_torch(Net(), (2, 4, 4))


def test_unsupported_module_names_its_path():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.GELU()))
    with pytest.raises(UnsupportedLayerError, match=r"module GELU at 1\.0"):
        import_torch(model, (4,))


def test_dynamic_control_flow_is_rejected():
    class Net(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(UnsupportedLayerError, match="cannot be traced"):
        import_torch(Net(), (3,))


def test_wrong_input_shape():
    with pytest.raises(ShapeError, match=r"input shape \(5,\) does not fit"):
        import_torch(nn.Linear(4, 2), (5,))


def test_import_leaves_training_mode_alone():
    model = nn.Sequential(nn.Linear(2, 2)).train()
    import_torch(model, (2,))
    assert model.training


UNSUPPORTED_MODULES = [nn.Sigmoid, nn.GELU, nn.Tanh, nn.LayerNorm, nn.Softmax, nn.ELU]


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(1, 4), position=st.integers(0, 4), which=st.integers(0, len(UNSUPPORTED_MODULES) - 1))
def test_importer_rejects_any_unsupported_module_by_path(depth, position, which):
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(6, 6), nn.ReLU()]
    position = min(position, len(layers))
    cls = UNSUPPORTED_MODULES[which]
    bad = cls(6) if cls is nn.LayerNorm else cls(dim=1) if cls is nn.Softmax else cls()
    layers.insert(position, bad)
    with pytest.raises(UnsupportedLayerError, match=rf"module {cls.__name__} at {position} "):
        import_torch(nn.Sequential(*layers), (6,))


# -- every linear operation a user writes ---------------------------------------------------------

def kinds(net: ir.Network) -> list[str]:
    return [type(n).__name__ for n in net.nodes]


def with_statistics(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with non-trivial BatchNorm statistics and affine parameters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model.eval()


class Body(nn.Module):
    """A conv, a ReLU, then ``body`` (the operation under test) as a user writes it in ``forward``."""

    def __init__(self, body):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.body = body

    def forward(self, x):
        return self.body(F.relu(self.conv(x)))


@pytest.mark.parametrize("body,keepdim", [
    (lambda x: x.mean((2, 3)), False),
    (lambda x: x.mean(dim=(-2, -1)), False),
    (lambda x: torch.mean(x, (2, 3)), False),
    (lambda x: x.mean([2, 3], keepdim=True), True),
    (lambda x: torch.mean(x, dim=(-1, -2), keepdim=True), True),
    (lambda x: x.sum((2, 3)), False),
    (lambda x: x.mean(3, keepdim=True), True),
])
def test_spatial_mean_is_global_average_pooling(body, keepdim):
    net = check_equivalent(Body(body), (2, 4, 6), atol=1e-5)
    pool = next(n for n in net.nodes if isinstance(n, ir.AvgPool2d))
    assert pool.kernel in ((4, 6), (1, 6))
    assert ("Flatten" in kinds(net)) is not keepdim
    assert kinds(net).count("Conv2d") == 1  # a sum's scale is folded through the pool into the conv


@pytest.mark.parametrize("pool", [
    nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((1, 1)), nn.AdaptiveAvgPool2d(output_size=1),
    lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: F.adaptive_avg_pool2d(x, output_size=(1, 1)),
])
def test_adaptive_average_pooling_to_one(pool):
    net = check_equivalent(nn.Sequential(Body(pool), nn.Flatten(), nn.Linear(3, 2)), (2, 4, 4), atol=1e-5)
    assert next(n for n in net.nodes if isinstance(n, ir.AvgPool2d)).kernel == (4, 4)


@pytest.mark.parametrize("body,match", [
    (lambda x: x.mean(1), r"mean over dims \[1\] of an \(N, 3, 4, 4\) tensor without keepdim; only over the spatial"),
    (lambda x: x.mean(0, keepdim=True), r"mean over dims \[0\]"),
    (lambda x: x.mean(), r"mean over dims \[0, 1, 2, 3\]"),
    (lambda x: x.mean(2), r"mean over dims \[2\] .* without keepdim"),
    (lambda x: x.sum(1, keepdim=True), r"sum over dims \[1\]"),
    (lambda x: x.mean((2, 3)).mean(1), r"mean over dims \[1\] of an \(N, 3\) tensor"),
])
def test_mean_over_channels_or_samples_is_refused(body, match):
    with pytest.raises(UnsupportedLayerError, match=rf"call_(method|function) '(mean|sum)' at <top level>.*{match}"):
        import_torch(Body(body), (2, 4, 4))


class Between(nn.Module):
    """``body`` between two convolutions, as a user writes a scale or shift in ``forward``."""

    def __init__(self, body, padding: int = 0):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=padding)
        self.register_buffer("quarter", torch.tensor(0.25))
        self.register_buffer("per_channel", torch.tensor([0.5, -2.0, 3.0]).reshape(3, 1, 1))
        self.body = body

    def forward(self, x):
        return self.b(self.body(self, F.relu(self.a(x))))


SCALES = [
    lambda m, x: x * 0.5, lambda m, x: 0.5 * x, lambda m, x: x / 2, lambda m, x: x / 4,
    lambda m, x: torch.mul(x, 0.5), lambda m, x: torch.div(x, 2), lambda m, x: x.mul(0.5), lambda m, x: x.div(2),
    lambda m, x: x.mul_(0.5), lambda m, x: x.div_(2), lambda m, x: x.__mul__(3), lambda m, x: x.__truediv__(3),
    lambda m, x: x * m.quarter, lambda m, x: x * torch.tensor(0.25), lambda m, x: x * (m.quarter * 2),
]
SHIFTS = [
    lambda m, x: x + 1.0, lambda m, x: x - 1.0, lambda m, x: 1.0 - x, lambda m, x: -x,
    lambda m, x: torch.add(x, 2, alpha=3), lambda m, x: x * m.per_channel, lambda m, x: (x - 0.5) / 0.25,
    lambda m, x: x.sub(1).neg(),
]


@pytest.mark.parametrize("body", SCALES + SHIFTS)
def test_scalar_arithmetic_folds_into_the_convolutions(body):
    """A positive scale folds back through the ReLU into ``a``; any other affine map forward into
    ``b`` (which has no padding, so a shift is exact)."""
    net = check_equivalent(Between(body), (2, 6, 6), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "Conv2d"]


@pytest.mark.parametrize("body", SHIFTS[:3])
def test_a_shift_before_a_padded_convolution_stays_a_depthwise_layer(body):
    net = check_equivalent(Between(body, padding=1), (2, 6, 6), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "Conv2d", "Conv2d"]
    affine = net.nodes[3]
    assert affine.weight.shape == (3, 1, 1, 1) and affine.groups == 3


def test_scale_between_layers_of_an_mlp():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3)

        def forward(self, x):
            x = F.relu(self.fc1(x)) * 0.5
            x = F.relu(self.fc2(x) / 4)
            return self.fc3(x) * 2

    net = check_equivalent(Net(), (6,), atol=1e-5)
    assert kinds(net) == ["Input", "Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_scale_of_the_input_stays_a_depthwise_layer_before_a_padded_conv():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)

        def forward(self, x):
            return self.conv((x - 0.5) / 0.25)

    net = check_equivalent(Net(), (2, 5, 5), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "Conv2d"] and net.nodes[1].groups == 2


def test_differences_and_weighted_sums_of_tensors():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(2, 3, 1), nn.Conv2d(2, 3, 1)

        def forward(self, x):
            y = F.relu(self.a(x))
            return torch.add(self.b(x) - y, self.c(x), alpha=2)

    net = check_equivalent(Net(), (2, 5, 5), atol=1e-5)
    # y - x: the negation of y stays a layer (y feeds a ReLU); alpha folds into c
    assert kinds(net).count("Add") == 2 and kinds(net).count("Conv2d") == 4


@pytest.mark.parametrize("body,match", [
    (lambda m, x: x * x, "the product of two network tensors is not linear"),
    (lambda m, x: x / F.relu(x), "the quotient of two network tensors is not linear"),
    (lambda m, x: 2 / x, "dividing by a network tensor is not linear"),
    (lambda m, x: torch.div(x, 2, rounding_mode="floor"), "division with rounding_mode='floor' is not linear"),
    (lambda m, x: x / 0.0, "division by zero"),
    (lambda m, x: x * torch.ones(3, 6, 6), r"a constant of shape \(3, 6, 6\) is not one value per channel"),
    (lambda m, x: x + torch.arange(6.0), r"a constant of shape \(6,\) is not one value per channel"),
    (lambda m, x: x / x.size(1), r"argument size_?\d* is neither a number nor a constant tensor"),
    (lambda m, x: x * (m.a.bias * 2).reshape(3, 1, 1), r"'a.bias' is a parameter, buffer or constant used outside its module"),
])
def test_non_linear_arithmetic_is_refused(body, match):
    with pytest.raises(UnsupportedLayerError, match=rf"at <top level> \(traced node \w+\) has no spikeforge layer "
                                                    rf"\({match}"):
        import_torch(Between(body), (2, 6, 6))


def test_in_place_operations_are_seen_by_later_reads():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 3, 1)

        def forward(self, x):
            y = self.a(x)
            y.relu_()
            F.relu(y, inplace=True)
            y.mul_(2)
            y += 1
            return self.b(y)

    net = check_equivalent(Net(), (2, 5, 5), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "ReLU", "Conv2d"]


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, with functional relu."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = BasicBlock(4, 4)
        self.layer2 = BasicBlock(4, 6, stride=2)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean((2, 3)))


def test_resnet_with_batchnorm_and_spatial_mean():
    net = check_equivalent(with_statistics(ResNet()), (2, 8, 8), atol=1e-5)
    # every BatchNorm folds into its convolution: 1 stem + 2 × 2 block convs + 1 downsample
    assert kinds(net).count("Conv2d") == 6 and "AvgPool2d" in kinds(net)
    assert all(n.groups == 1 for n in net.nodes if isinstance(n, ir.Conv2d))


class PreActBlock(nn.Module):
    """A pre-activation residual block (He et al. 2016): BatchNorm and ReLU before each conv."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.layer1 = PreActBlock(4, 4)
        self.layer2 = PreActBlock(4, 6, stride=2)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        out = self.layer2(self.layer1(self.conv1(x)))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1)
        return self.fc(out.view(out.size(0), -1))


def test_pre_activation_resnet():
    net = check_equivalent(with_statistics(PreActResNet()), (2, 8, 8), atol=1e-5)
    names = [n.name for n in net.nodes]
    # bn2 folds into conv1 of its block, and bn through the last sum into conv2 and the shortcut
    # conv; a BatchNorm of a tensor that also feeds an identity shortcut stays a depthwise 1×1 layer
    assert {"layer1.bn2", "layer2.bn2", "bn"}.isdisjoint(names)
    for name, channels in (("layer1.bn1", 4), ("layer2.bn1", 4)):
        layer = net.node(name)
        assert isinstance(layer, ir.Conv2d) and layer.weight.shape == (channels, 1, 1, 1) and layer.groups == channels


def test_pre_activation_resnet_converts_and_simulates():
    from spikeforge.convert.normalise import convert
    from spikeforge.sim.simulator import simulate

    torch.manual_seed(0)
    x = torch.rand(32, 2, 8, 8).numpy()
    ann = import_torch(with_statistics(PreActResNet()), (2, 8, 8))
    expected = run_ann(ann, x)
    out = simulate(convert(ann, x), x, timesteps=64).outputs[64]
    assert np.abs(out - expected).max() < 0.02 * np.abs(expected).max()


class DepthwiseSeparable(nn.Module):
    """A MobileNet block: depthwise 3×3 and pointwise 1×1 convolutions, each with BatchNorm and ReLU6."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU6(inplace=True))
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.bn_dw = nn.BatchNorm2d(4)
        self.pw = nn.Conv2d(4, 8, 1, bias=False)
        self.bn_pw = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu6(self.bn_dw(self.dw(x)))
        x = F.relu6(self.bn_pw(self.pw(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


def test_mobilenet_depthwise_separable_block_with_relu6():
    net = check_equivalent(with_statistics(DepthwiseSeparable()), (2, 6, 6), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "AvgPool2d", "Flatten",
                          "Linear"]
    assert {n.clip for n in net.nodes if isinstance(n, ir.ReLU)} == {6.0}


def test_batchnorm_folds_into_the_layer_before_it():
    for model, shape in ((nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)), (2, 5, 5)),
                         (nn.Sequential(nn.ConvTranspose2d(2, 4, 3, stride=2, groups=2), nn.BatchNorm2d(4)), (2, 4, 4)),
                         (nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), (4,))):
        net = check_equivalent(with_statistics(model), shape, atol=1e-5)
        assert kinds(net) == ["Input", type(model[0]).__name__]


class Around(nn.Module):
    """``body(self, x)`` with x the output of a conv; BatchNorm ``bn`` on 3 channels."""

    def __init__(self, body, bn=None):
        super().__init__()
        self.conv, self.other, self.head = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(2, 3, 1), nn.Conv2d(3, 2, 1)
        self.bn = bn or nn.BatchNorm2d(3)
        self.body = body

    def forward(self, x):
        return self.head(self.body(self, x))


@pytest.mark.parametrize("body,kept", [
    # into the layer before, through what commutes with it
    (lambda m, x: m.bn(F.max_pool2d(m.conv(x), 2)), False),
    (lambda m, x: m.bn(F.avg_pool2d(m.conv(x), 2)), False),
    (lambda m, x: m.bn(F.interpolate(m.conv(x), scale_factor=2)), False),
    (lambda m, x: m.bn(m.conv(x) + m.other(x)), False),
    (lambda m, x: m.bn(F.relu(m.conv(x)) + m.other(x)), False),  # the shift goes into the other branch
    # kept as a depthwise layer, or folded forward into the 1×1 head (no padding)
    (lambda m, x: m.bn(F.relu(m.conv(x))), False),
    (lambda m, x: F.relu(m.bn(F.relu(m.conv(x)))), True),
    (lambda m, x: m.bn(F.avg_pool2d(m.conv(x), 3, 2, padding=1)), False),  # padding is not shifted: forward
    (lambda m, x: F.relu(m.bn(F.avg_pool2d(m.conv(x), 3, 2, padding=1))), True),
    (lambda m, x: F.relu(m.bn(F.relu(m.conv(x)) + F.relu(m.other(x)))), True),
    (lambda m, x: F.relu(m.bn(y := m.conv(x))) + y, True),  # the conv feeds two layers
])
def test_batchnorm_anywhere(body, kept):
    net = check_equivalent(with_statistics(Around(body)), (2, 6, 6), atol=1e-5)
    assert ("bn" in [n.name for n in net.nodes]) is kept


def test_batchnorm_after_concatenation_folds_into_each_part():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(2, 3, 3, padding=1), nn.ConvTranspose2d(2, 2, 3, padding=1)
            self.bn, self.head = nn.BatchNorm2d(5), nn.Conv2d(5, 2, 3, padding=1)

        def forward(self, x):
            return self.head(F.relu(self.bn(torch.cat([self.a(x), self.b(x)], dim=1))))

    net = check_equivalent(with_statistics(Net()), (2, 5, 5), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ConvTranspose2d", "Concat", "ReLU", "Conv2d"]


def test_batchnorm_after_max_pooling_with_a_negative_scale_stays_a_layer():
    model = with_statistics(Around(lambda m, x: F.relu(m.bn(F.max_pool2d(m.conv(x), 2)))))
    with torch.no_grad():
        model.bn.weight[1] = -1.0
    net = check_equivalent(model, (2, 6, 6), atol=1e-5)
    assert isinstance(net.node("bn"), ir.Conv2d)


def test_batchnorm_at_the_input_and_functional_batchnorm():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn_in, self.conv, self.bn = nn.BatchNorm2d(2), nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)

        def forward(self, x):
            x = self.conv(self.bn_in(x))
            bn = self.bn
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.1, bn.eps)

    net = check_equivalent(with_statistics(Net()), (2, 5, 5), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "Conv2d"] and net.nodes[1].name == "bn_in"


def test_batchnorm1d_of_flattened_features_folds_into_the_next_linear():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(27), nn.Linear(27, 4))
    net = check_equivalent(with_statistics(model), (2, 5, 5), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "Flatten", "Linear"]


def test_batchnorm1d_before_a_relu_is_a_diagonal_linear():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    net = check_equivalent(with_statistics(model), (4,), atol=1e-5)
    diagonal = net.nodes[3]
    assert kinds(net) == ["Input", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert np.count_nonzero(diagonal.weight - np.diag(np.diag(diagonal.weight))) == 0


@pytest.mark.parametrize("model,shape,match", [
    (nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, track_running_stats=False)), (2, 5, 5),
     r"module BatchNorm2d at 1 .*without running statistics"),
    (nn.Sequential(nn.BatchNorm1d(3)), (3, 7),
     r"module BatchNorm1d at 0 .*a per-channel scale or shift of an \(N, 3, 7\) tensor"),
])
def test_batchnorm_without_running_statistics_or_of_sequences_is_refused(model, shape, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        import_torch(model, shape)


def test_functional_batchnorm_in_training_mode_is_refused():
    class Net(nn.Module):
        def forward(self, x):
            return F.batch_norm(x, None, None, training=True)

    with pytest.raises(UnsupportedLayerError, match=r"function 'batch_norm' .*normalises each batch by its own"):
        import_torch(Net(), (2, 4, 4))


@pytest.mark.parametrize("act,clip", [
    (nn.ReLU6(), 6.0), (F.relu6, 6.0), (nn.Hardtanh(0.0, 2.5), 2.5), (lambda x: F.hardtanh(x, 0.0, 3.0), 3.0),
    (lambda x: torch.clamp(x, 0, 2), 2.0), (lambda x: x.clamp(min=0, max=2), 2.0), (lambda x: torch.clip(x, 0, 1), 1.0),
    (lambda x: x.clip(0.0, 1.5), 1.5), (lambda x: x.clamp(min=0), None), (lambda x: torch.clamp(x, min=0), None),
    (lambda x: x.clamp_min(0), None), (lambda x: x.clamp_(0, 4), 4.0),
])
def test_clipping_activations_are_clipped_relus(act, clip):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.act = act if isinstance(act, nn.Module) else None

        def forward(self, x):
            x = self.conv(x) * 3  # reaches the clip
            return self.act(x) if self.act is not None else act(x)

    net = check_equivalent(Net(), (2, 4, 4), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU"] and net.nodes[-1].clip == clip


@pytest.mark.parametrize("act,match", [
    (nn.Hardtanh(), r"module Hardtanh at act .*clamping to \[-1.0, 1.0\] is not a ReLU"),
    (lambda x: F.hardtanh(x), r"function 'hardtanh' .*clamping to \[-1.0, 1.0\] is not a ReLU"),
    (lambda x: torch.clamp(x, -1, 1), r"function 'clamp' .*clamping to \[-1, 1\] is not a ReLU"),
    (lambda x: x.clamp(max=1), r"method 'clamp' .*clamping to \[None, 1\] is not a ReLU"),
    (lambda x: x.clamp(0.5, 1), r"clamping to \[0.5, 1\] is not a ReLU"),
    (lambda x: torch.clamp(x, 0, 0), r"clamping to \[0, 0\] is not a ReLU"),
    (lambda x: torch.clamp(x, torch.zeros(1), torch.ones(1)), "clamping to tensor bounds"),
])
def test_clamps_that_are_not_relus_are_refused(act, match):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = act if isinstance(act, nn.Module) else None

        def forward(self, x):
            return self.act(x) if self.act is not None else act(x)

    with pytest.raises(UnsupportedLayerError, match=match):
        import_torch(Net(), (2, 4, 4))


@pytest.mark.parametrize("flatten", [
    nn.Flatten(), lambda x: torch.flatten(x, 1), lambda x: x.flatten(1), lambda x: x.view(x.size(0), -1),
    lambda x: x.view(-1, x.size(1) * x.size(2) * x.size(3)), lambda x: x.reshape(x.shape[0], -1),
    lambda x: torch.reshape(x, (-1, 48)), lambda x: x.view(x.size(0), -1).contiguous(),
])
def test_flatten_view_reshape_identity_and_dropout(flatten):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.keep = nn.Sequential(nn.Identity(), nn.Dropout(0.5), nn.Dropout2d(0.2))
            self.fc = nn.Linear(48, 2)
            self.flatten = flatten if isinstance(flatten, nn.Module) else None

        def forward(self, x):
            x = self.keep(F.relu(self.conv(x)))
            x = self.flatten(x) if self.flatten is not None else flatten(x)
            return self.fc(F.dropout(x, 0.3, self.training))

    net = check_equivalent(Net().train(), (2, 4, 4), atol=1e-5)
    assert kinds(net) == ["Input", "Conv2d", "ReLU", "Flatten", "Linear"]


class InBlock(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.op = op

    def forward(self, x):
        return self.op(self.conv(x))


@pytest.mark.parametrize("op,match", [
    (torch.sigmoid, r"call_function 'sigmoid' at 1 \(traced node sigmoid\) has no spikeforge layer; supported"),
    (torch.tanh, r"call_function 'tanh' at 1 "),
    (F.gelu, r"call_function 'gelu' at 1 "),
    (F.silu, r"call_function 'silu' at 1 "),
    (lambda x: F.softmax(x, dim=1), r"call_function 'softmax' at 1 "),
    (lambda x: x.softmax(1), r"call_method 'softmax' at 1 "),
    (lambda x: F.leaky_relu(x, 0.1), r"call_function 'leaky_relu' at 1 "),
    (nn.LeakyReLU(), r"module LeakyReLU at 1\.op "),
    (nn.SiLU(), r"module SiLU at 1\.op "),
    (lambda x: x * torch.sigmoid(x), r"call_function 'sigmoid' at 1 "),
    (lambda x: x * F.relu(x), r"call_function 'mul' at 1 .*\(the product of two network tensors is not linear\)"),
    (lambda x: x.exp(), r"call_method 'exp' at 1 "),
])
def test_non_linear_operations_are_refused_by_name_and_place(op, match):
    model = nn.Sequential(nn.Conv2d(2, 2, 1), InBlock(op))
    with pytest.raises(UnsupportedLayerError, match=match):
        import_torch(model, (2, 4, 4))
