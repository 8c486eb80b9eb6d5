"""The networks of the conversion suite (issue 20), written the way users write them.

Plain ``torch.nn.Module`` classes, nothing spikeforge-specific: functional ``F.relu`` in the
torchvision-style ResNet, ``x.mean((2, 3))`` as global pooling in the MobileNet, BatchNorm
after pooling, a scaling by 0.5. The module depends on torch only, so both spikeforge's venv and
the peers' venv (``.venv-bench``, SpikingJelly) import it; only the QCFS nets build spikeforge's
``QCFS`` activation (imported when such a net is built; both venvs have spikeforge installed).

:data:`NETS` names every net with its data set, input shape and training recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------------
# 1. MLP
# ---------------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self, hidden: int = 256, classes: int = 10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.relu1 = nn.ReLU()
        self.drop1 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, hidden)
        self.relu2 = nn.ReLU()
        self.drop2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.drop1(self.relu1(self.fc1(self.flatten(x))))
        x = self.drop2(self.relu2(self.fc2(x)))
        return self.fc3(x)


# ---------------------------------------------------------------------------------------------
# 2. LeNet with average pooling
# ---------------------------------------------------------------------------------------------
class LeNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


# ---------------------------------------------------------------------------------------------
# 3. VGG with max pooling and dropout
# ---------------------------------------------------------------------------------------------
def _conv_bn_relu(cin: int, cout: int, act: Callable[[], nn.Module] = nn.ReLU) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), act()]


class VGG(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), classes: int = 10):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            *_conv_bn_relu(3, a), *_conv_bn_relu(a, a), nn.MaxPool2d(2),
            *_conv_bn_relu(a, b), *_conv_bn_relu(b, b), nn.MaxPool2d(2),
            *_conv_bn_relu(b, c), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(c * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


# ---------------------------------------------------------------------------------------------
# 4. torchvision-style ResNet (BasicBlock, F.relu, 1x1 conv + BN downsampling shortcut)
# ---------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return F.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet layout for small images: 3×3 stem, one stage per width, stride 2 between."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64), blocks: int = 1,
                 classes: int = 10):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layers = nn.Sequential(*[self._make_layer(w, blocks, 1 if i == 0 else 2) for i, w in enumerate(widths)])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------
# 5. Pre-activation ResNet (BN → ReLU → conv; identity shortcuts; BN + ReLU before the pool)
# ---------------------------------------------------------------------------------------------
class PreActBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or inplanes != planes:
            self.shortcut = nn.Conv2d(inplanes, planes, 1, stride, bias=False)

    def forward(self, x):
        out = self.relu1(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.relu2(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks += [PreActBlock(cin, w, 1 if i == 0 else 2), PreActBlock(w, w)]
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(self.conv1(x))
        x = self.pool(self.relu(self.bn(x)))
        return self.fc(self.flatten(x))


# ---------------------------------------------------------------------------------------------
# 6. MobileNet: depthwise-separable convs, ReLU6, global pooling by x.mean((2, 3))
# ---------------------------------------------------------------------------------------------
class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.act1 = nn.ReLU6(inplace=True)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = nn.ReLU6(inplace=True)

    def forward(self, x):
        x = self.act1(self.bn1(self.dw(x)))
        return self.act2(self.bn2(self.pw(x)))


class MobileNet(nn.Module):
    CONFIG = ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1))

    def __init__(self, stem: int = 16, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU6(inplace=True))
        layers, cin = [], stem
        for cout, stride in self.CONFIG:
            layers.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = x.mean((2, 3))
        return self.classifier(x)


# ---------------------------------------------------------------------------------------------
# 7. U-Net for EM segmentation (two classes per pixel)
# ---------------------------------------------------------------------------------------------
def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn_relu(cin, cout), *_conv_bn_relu(cout, cout))


class UNet(nn.Module):
    def __init__(self, base: int = 8, classes: int = 2):
        super().__init__()
        self.enc1 = _double_conv(1, base)
        self.enc2 = _double_conv(base, 2 * base)
        self.bottom = _double_conv(2 * base, 4 * base)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = _double_conv(6 * base, 2 * base)
        self.dec1 = _double_conv(3 * base, base)
        self.head = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(b), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2, mode="nearest"), e1], dim=1))
        return self.head(d1)


# ---------------------------------------------------------------------------------------------
# 8. Clipped activations (ReLU6, Hardtanh(0, 1)) and 9. QCFS: one CNN, activation as an argument
# ---------------------------------------------------------------------------------------------
class CNN(nn.Module):
    """conv-BN-act ×2, avg-pool, conv-BN-act ×2, avg-pool, linear-act, linear; ``act`` builds each activation."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, int] = (32, 64), act: Callable[[], nn.Module] = nn.ReLU,
                 side: int = 32, classes: int = 10):
        super().__init__()
        a, b = widths
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, a, act), *_conv_bn_relu(a, a, act), nn.AvgPool2d(2),
            *_conv_bn_relu(a, b, act), *_conv_bn_relu(b, b, act), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(b * (side // 4) ** 2, 128), act(), nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class ActBlock(nn.Module):
    """A ResNet BasicBlock whose activations are modules built by ``act`` (so QCFS can sit there)."""

    def __init__(self, cin: int, cout: int, stride: int, act: Callable[[], nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act2 = act()

    def forward(self, x):
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class ActResNet(nn.Module):
    def __init__(self, act: Callable[[], nn.Module], widths: tuple[int, ...] = (16, 32, 64), classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(3, widths[0], act))
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(ActBlock(cin, w, 1 if i == 0 else 2, act))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def qcfs(levels: int, clip: float = 3.0) -> Callable[[], nn.Module]:
    """A factory of spikeforge's QCFS activation (imported here: the only spikeforge use in this module)."""
    from spikeforge.models.layers import QCFS

    return lambda: QCFS(levels, clip)


# ---------------------------------------------------------------------------------------------
# 10. BatchNorm not after a conv (on the input, after pooling) and a scaling x * 0.5
# ---------------------------------------------------------------------------------------------
class NormScaleCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.bn_in = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.AvgPool2d(2)
        self.bn_pool = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(self.bn_in(x))))
        x = self.bn_pool(x)
        x = self.pool2(self.relu2(self.conv2(x)))
        x = x * 0.5
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


# ---------------------------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetSpec:
    """One net of the suite: how to build it, its data, and a brief training recipe."""

    name: str
    build: Callable[[], nn.Module]
    data: str  # "mnist", "cifar10" or "isbi2012"
    family: str  # "relu" (data-based normalisation), "clipped" (ReLU6 / Hardtanh) or "qcfs"
    what: str
    epochs: int = 4
    train_images: int = 5000
    lr: float = 3e-3
    batch_size: int = 64
    levels: int | None = None  # QCFS L
    extra: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "isbi2012": (1, 64, 64)}[self.data]


def _mnist_cnn(act: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    return lambda: CNN(1, (16, 32), act, side=28)


NETS: dict[str, NetSpec] = {s.name: s for s in (
    NetSpec("mlp", MLP, "mnist", "relu", "MLP 784-256-256-10, Linear-ReLU-Dropout ×2", epochs=8),
    NetSpec("lenet", LeNet, "mnist", "relu", "LeNet-5, ReLU, AvgPool", epochs=8),
    NetSpec("resnet_mnist", lambda: ResNet(1, (8, 16, 32)), "mnist", "relu",
            "torchvision-style ResNet (BasicBlock, F.relu, 1×1 conv+BN shortcut), widths 8-16-32", epochs=5),
    NetSpec("hardtanh_cnn", _mnist_cnn(lambda: nn.Hardtanh(0.0, 1.0)), "mnist", "clipped",
            "CNN with nn.Hardtanh(0, 1) activations", epochs=5),
    NetSpec("normscale_cnn", NormScaleCNN, "mnist", "relu",
            "CNN with BatchNorm on the input and after pooling, x * 0.5 before the classifier", epochs=6),
    NetSpec("vgg", VGG, "cifar10", "relu", "VGG-style, conv-BN-ReLU, MaxPool, Dropout, widths 16-32-64",
            epochs=5, train_images=10000),
    NetSpec("resnet_cifar", ResNet, "cifar10", "relu",
            "torchvision-style ResNet (BasicBlock, F.relu, 1×1 conv+BN shortcut), widths 16-32-64",
            epochs=5, train_images=10000),
    NetSpec("preact_resnet", PreActResNet, "cifar10", "relu",
            "pre-activation ResNet (BN→ReLU→conv, identity shortcuts, BN+ReLU before the pool), 16-32-64",
            epochs=4, train_images=10000),
    NetSpec("mobilenet", MobileNet, "cifar10", "clipped",
            "MobileNet-style depthwise-separable convs, ReLU6, global pool by x.mean((2, 3))",
            epochs=5, train_images=10000),
    NetSpec("relu6_cnn", lambda: CNN(act=nn.ReLU6), "cifar10", "clipped", "CNN with nn.ReLU6 activations",
            epochs=5, train_images=10000),
    NetSpec("qcfs_cnn_l4", lambda: CNN(act=qcfs(4)), "cifar10", "qcfs", "CNN with QCFS activations, L = 4",
            epochs=5, train_images=10000, levels=4),
    NetSpec("qcfs_cnn_l8", lambda: CNN(act=qcfs(8)), "cifar10", "qcfs", "CNN with QCFS activations, L = 8",
            epochs=5, train_images=10000, levels=8),
    NetSpec("qcfs_resnet_l4", lambda: ActResNet(qcfs(4)), "cifar10", "qcfs",
            "ResNet (BasicBlock, 1×1 conv+BN shortcut) with QCFS activations, L = 4",
            epochs=5, train_images=10000, levels=4),
    NetSpec("qcfs_resnet_l8", lambda: ActResNet(qcfs(8)), "cifar10", "qcfs",
            "ResNet (BasicBlock, 1×1 conv+BN shortcut) with QCFS activations, L = 8",
            epochs=5, train_images=10000, levels=8),
    NetSpec("unet", UNet, "isbi2012", "relu",
            "U-Net (2 levels, base 8, skip concatenations, nearest upsampling) for EM membrane segmentation",
            lr=2e-3, batch_size=8, extra={"iterations": 2000, "max_seconds": 170.0}),
)}
