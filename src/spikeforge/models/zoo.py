"""Reference model definitions (plain PyTorch, ``nn.ReLU`` modules, BatchNorm where usual)."""

from __future__ import annotations

import torch
from torch import nn

from spikeforge.errors import ModelFileError


def _too_small(model: str, size: int, least: int) -> ModelFileError:
    return ModelFileError(f"architecture {model!r}: option size={size} leaves no pixels after its "
                          f"poolings and strides; use size ≥ {least}")


def digits_cnn(num_classes: int = 10, pool: str = "avg") -> nn.Sequential:
    """conv8-pool-conv16-pool-linear on 1×8×8 inputs (the demo network)."""
    pool_layer = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), pool_layer(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), pool_layer(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, num_classes))


def mlp(in_features: int = 784, hidden: tuple[int, ...] = (256, 128), num_classes: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, num_classes))


def lenet5(in_channels: int = 1, size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 (6-16 convolutions with 5×5 kernels, 120-84 dense), average pooling."""
    s = ((size - 4) // 2 - 4) // 2
    if s < 1:
        raise _too_small("lenet5", size, 16)
    flat = 16 * s * s
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


VGG_CONFIGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "small": (64, 64, "M", 128, 128, "M", 256, 256, "M"),
}


def vgg(config: str = "vgg11", width: float = 1.0, in_channels: int = 3, size: int = 32,
        num_classes: int = 10, batch_norm: bool = True, pool: str = "avg") -> nn.Sequential:
    """VGG for CIFAR-size inputs; channel counts scaled by ``width``; average pooling by default."""
    layers: list[nn.Module] = []
    c, s = in_channels, size
    if size >> VGG_CONFIGS[config].count("M") < 1:
        raise _too_small("vgg", size, 1 << VGG_CONFIGS[config].count("M"))
    for item in VGG_CONFIGS[config]:
        if item == "M":
            layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
            s //= 2
            continue
        out = max(4, int(round(item * width)))
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(out)] if batch_norm else []
        layers += [nn.ReLU()]
        c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * s * s, num_classes))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18: four stages of two basic blocks; CIFAR stem (3×3) or ImageNet stem (7×7/2 + pool)."""

    def __init__(self, width: float = 1.0, in_channels: int = 3, size: int = 32, num_classes: int = 10,
                 imagenet: bool = False):
        super().__init__()
        widths = [max(4, int(round(w * width))) for w in (64, 128, 256, 512)]
        if size // (32 if imagenet else 8) < 1:
            raise _too_small("resnet18", size, 32 if imagenet else 8)
        if imagenet:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.AvgPool2d(2))
            s = size // 4
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU())
            s = size
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks += [BasicBlock(c, w, stride), BasicBlock(w, w, 1)]
            c, s = w, s // stride
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AvgPool2d(s)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.blocks(self.stem(x)))))


def resnet18(**options) -> ResNet18:
    return ResNet18(**options)


class UNet(nn.Module):
    """U-Net: ``depth`` encoder stages (two 3×3 convs, avg-pool), a bottleneck, decoder stages with
    transposed-convolution upsampling and concatenated skips; 1×1 output convolution."""

    def __init__(self, in_channels: int = 1, size: int = 128, base: int = 16, depth: int = 3,
                 num_classes: int = 2):
        super().__init__()
        if size % (1 << depth):
            raise ModelFileError(f"architecture 'unet': option size={size} is not a multiple of "
                                 f"2**depth = {1 << depth} (the skips would not line up)")

        def double(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())

        chans = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for w in chans[:-1]:
            self.down.append(double(c, w))
            c = w
        self.pool = nn.AvgPool2d(2)
        self.bottleneck = double(chans[-2], chans[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_hi, w_lo in zip(reversed(chans[1:]), reversed(chans[:-1])):
            self.up.append(nn.Sequential(nn.ConvTranspose2d(w_hi, w_lo, 2, stride=2), nn.ReLU()))
            self.dec.append(double(2 * w_lo, w_lo))
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def unet(**options) -> UNet:
    return UNet(**options)
