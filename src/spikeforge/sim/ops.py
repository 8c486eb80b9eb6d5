"""Torch kernels for the stateless (non-neuron) layers of the IR, batch-first.

:func:`compile_layer` turns one IR node into a function of its input tensors; weights are
converted to torch once. The same kernels evaluate an ANN and each timestep of an SNN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.ir import network as ir

Kernel = Callable[..., torch.Tensor]


def _t(array: np.ndarray | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if array is None else torch.as_tensor(np.array(array), dtype=dtype)


def _channel_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a per-channel vector to broadcast over a batch-first tensor of ``ndim`` dims."""
    return values.reshape(-1, *([1] * (ndim - 2))) if values.ndim else values


def compile_layer(node: ir.Node, net: ir.Network, dtype: torch.dtype = torch.float32) -> Kernel:
    """Return ``f(*inputs) -> output`` computing ``node`` on batch-first tensors.

    ReLU layers compute their (clipped, quantised) rectifier; neuron layers are not stateless
    and are handled by the simulator.
    """
    if isinstance(node, ir.Linear):
        w, b = _t(node.weight, dtype), _t(node.bias, dtype)
        return lambda x: F.linear(x, w, b)
    if isinstance(node, ir.Conv2d):
        w, b = _t(node.weight, dtype), _t(node.bias, dtype)
        return lambda x: F.conv2d(x, w, b, node.stride, node.padding, node.dilation, node.groups)
    if isinstance(node, ir.ConvTranspose2d):
        w, b = _t(node.weight, dtype), _t(node.bias, dtype)
        return lambda x: F.conv_transpose2d(x, w, b, node.stride, node.padding, node.output_padding,
                                            node.groups, node.dilation)
    if isinstance(node, ir.SparseLinear):
        n_in = int(np.prod(net.shape(node.inputs[0])))
        matrix = torch.sparse_coo_tensor(np.stack([node.post, node.pre]), _t(node.weight, dtype),
                                         (node.n_out, n_in)).coalesce().to_sparse_csr()
        b = _t(node.bias, dtype)
        out_shape = net.shape(node.name)

        def sparse(x: torch.Tensor) -> torch.Tensor:
            y = (matrix @ x.reshape(x.shape[0], -1).T).T
            y = y + b if b is not None else y
            return y.reshape(x.shape[0], *out_shape)

        return sparse
    if isinstance(node, ir.AvgPool2d):
        return lambda x: F.avg_pool2d(x, node.kernel, node.stride, node.padding)
    if isinstance(node, ir.MaxPool2d):
        return lambda x: F.max_pool2d(x, node.kernel, node.stride, node.padding)
    if isinstance(node, ir.Upsample):
        return lambda x: F.interpolate(x, scale_factor=node.scale, mode="nearest")
    if isinstance(node, ir.Flatten):
        return lambda x: x.flatten(1)
    if isinstance(node, ir.Concat):
        return lambda *xs: torch.cat(xs, dim=1)
    if isinstance(node, ir.Add):
        gains = [None if g is None else _t(g, dtype) for g in (node.gains or [None] * len(node.inputs))]

        def add(*xs: torch.Tensor) -> torch.Tensor:
            out = None
            for x, g in zip(xs, gains):
                term = x if g is None else x * _channel_view(g, x.ndim)
                out = term if out is None else out + term
            return out

        return add
    if isinstance(node, ir.ReLU):
        if node.levels is not None:
            step = node.clip / node.levels
            return lambda x: torch.clamp(torch.floor(x / step + 0.5), 0, node.levels) * step
        if node.clip is not None:
            return lambda x: torch.clamp(x, 0, node.clip)
        return torch.relu
    raise TypeError(f"layer {node.name}: {type(node).__name__} is not a stateless layer")


def unit_fanout(node: ir.Node, net: ir.Network) -> torch.Tensor | None:
    """Synapses leaving each input element of a synaptic layer (shape of one input sample).

    Computed as the gradient of the layer's output sum, with every weight set to one, with
    respect to its input: exact for any linear layer, padding excluded. ``None`` for layers
    without synapses.
    """
    if not (node.is_synaptic or isinstance(node, ir.AvgPool2d)):
        return None
    in_shape = net.shape(node.inputs[0])
    if isinstance(node, ir.SparseLinear):
        counts = np.bincount(node.pre, minlength=int(np.prod(in_shape)))
        return torch.as_tensor(counts, dtype=torch.float64).reshape(in_shape)
    # A gradient, also when called under torch.no_grad() or torch.inference_mode().
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.ones(1, *in_shape, dtype=torch.float64, requires_grad=True)
        if isinstance(node, ir.Linear):
            y = F.linear(x, torch.ones(node.weight.shape, dtype=torch.float64))
        elif isinstance(node, ir.Conv2d):
            y = F.conv2d(x, torch.ones(node.weight.shape, dtype=torch.float64), None, node.stride, node.padding,
                         node.dilation, node.groups)
        elif isinstance(node, ir.ConvTranspose2d):
            y = F.conv_transpose2d(x, torch.ones(node.weight.shape, dtype=torch.float64), None, node.stride,
                                   node.padding, node.output_padding, node.groups, node.dilation)
        else:  # AvgPool2d: each output reads kernel-many inputs with weight 1/k; count synapses, not weights
            k = node.kernel[0] * node.kernel[1]
            y = F.avg_pool2d(x, node.kernel, node.stride, node.padding) * k
        (grad,) = torch.autograd.grad(y.sum(), x)
        return grad[0].detach()
