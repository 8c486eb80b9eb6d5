"""Shared fixtures: small networks and paths to the real data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: training results depend on the thread count (summation
    order), and on a loaded machine two OpenMP threads spin and run tiny ops far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


class ResidualNet(nn.Module):
    """Conv stem, one residual block with BatchNorm and functional relu, linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv_a = nn.Conv2d(4, 4, 3, padding=1)
        self.conv_b = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        y = nn.functional.relu(self.conv_a(x))
        x = nn.functional.relu(self.conv_b(y) + x)
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture
def residual_model() -> nn.Module:
    torch.manual_seed(0)
    model = ResidualNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics to fold
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
