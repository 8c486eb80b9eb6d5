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
    (lambda x: x * 2.0, "'mul'"),
    (lambda x: x + 1.0, "sum of two network tensors"),
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


def test_batchnorm_after_relu_is_rejected():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))
    with pytest.raises(UnsupportedLayerError, match="BatchNorm must directly follow"):
        import_torch(model, (1, 5, 5))


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
