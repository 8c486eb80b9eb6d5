"""A small, deterministic training loop for the reference models (demo, benchmarks, QCFS)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from spikeforge.datasets import Dataset


def fit(model: nn.Module, data: Dataset, *, epochs: int = 20, lr: float = 3e-3, batch_size: int = 64,
        weight_decay: float = 1e-4, seed: int = 0, augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_epoch: Callable[[int, float], None] | None = None) -> nn.Module:
    """Train a classifier with AdamW and a cosine learning-rate schedule; returns it in eval mode."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(data.x)
    y = torch.as_tensor(data.y)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        order = torch.as_tensor(rng.permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb = x[idx] if augment is None else augment(x[idx])
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if on_epoch:
            on_epoch(epoch + 1, total / len(x))
    return model.eval()


def accuracy(model: nn.Module, data: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy of a classifier in eval mode.

    Raises
    ------
    InvalidDataError
        Labels outside the classifier's outputs (:func:`~spikeforge.sim.simulator.top1_accuracy`).
    """
    from spikeforge.sim.simulator import top1_accuracy

    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(torch.as_tensor(data.x[start:start + batch_size]))
                         for start in range(0, len(data), batch_size)])
    return top1_accuracy(out.numpy(), data.y)
