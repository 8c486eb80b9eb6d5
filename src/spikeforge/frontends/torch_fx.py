"""Import a ``torch.nn.Module`` into the network IR by symbolic tracing (``torch.fx``).

Every traced operation maps to one IR layer, is folded (BatchNorm into the preceding conv or
linear layer), or is dropped because it is the identity at inference (Dropout, Identity,
``contiguous``). Anything else raises :class:`UnsupportedLayerError` naming the operation and
the module path where it happens: nothing passes through silently.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from spikeforge.api import public
from spikeforge.errors import ShapeError, UnsupportedLayerError
from spikeforge.ir import network as ir
from spikeforge.models.layers import QCFS
from spikeforge.resources import check_memory

SUPPORTED = (
    "nn: Linear, Conv2d, ConvTranspose2d, BatchNorm1d/2d (folded), ReLU, ReLU6, Hardtanh(0, c), QCFS, "
    "AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, Upsample(nearest), Flatten, Dropout, Identity; "
    "functions: relu, relu6, flatten, cat, add, avg/max/adaptive pooling, interpolate(nearest), view/reshape to (N, -1)"
)

_IDENTITY_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_IDENTITY_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout}
_IDENTITY_METHODS = {"contiguous", "clone", "detach"}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def _where(node: fx.Node) -> str:
    """Module path of a traced node, for error messages."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return path or "<top level>"


def _target_name(node: fx.Node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", repr(t))


class _Importer:
    def __init__(self, model: nn.Module, gm: fx.GraphModule, name: str):
        self.model = model
        self.gm = gm
        self.name = name
        self.layers: dict[str, ir.Node] = {}  # IR name -> node, in insertion order
        self.alias: dict[fx.Node, str] = {}  # fx node -> IR name of its value
        self.meta_nodes: set[fx.Node] = set()  # size()/shape values, only allowed as view arguments
        self.outputs: tuple[str, ...] = ()

    # -- helpers -------------------------------------------------------------------------------
    def unsupported(self, node: fx.Node, why: str = "") -> UnsupportedLayerError:
        what = f"{node.op} {_target_name(node)!r}"
        if node.op == "call_module":
            what = f"module {type(self.gm.get_submodule(node.target)).__name__}"
        detail = f" ({why})" if why else ""
        return UnsupportedLayerError(
            f"{what} at {_where(node)} (traced node {node.name}) has no spikeforge layer{detail}; "
            f"supported: {SUPPORTED}")

    def src(self, arg: Any, node: fx.Node) -> str:
        if not isinstance(arg, fx.Node) or arg in self.meta_nodes or arg not in self.alias:
            raise self.unsupported(node, f"argument {arg!r} is not a tensor produced by the network")
        return self.alias[arg]

    def add(self, node: fx.Node, layer: ir.Node) -> None:
        self.layers[layer.name] = layer
        self.alias[node] = layer.name

    def layer_name(self, node: fx.Node) -> str:
        base = str(node.target) if node.op == "call_module" else node.name
        name, i = base, 1
        while name in self.layers:
            name, i = f"{base}_{i}", i + 1
        return name

    def out_shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    # -- BatchNorm folding ---------------------------------------------------------------------
    def fold_batchnorm(self, node: fx.Node, bn: nn.modules.batchnorm._BatchNorm) -> None:
        (arg,) = node.args
        prev_name = self.src(arg, node)
        prev = self.layers[prev_name]
        if not isinstance(prev, (ir.Conv2d, ir.Linear, ir.ConvTranspose2d)) or len(arg.users) != 1:
            raise self.unsupported(node, f"BatchNorm must directly follow a Conv2d, ConvTranspose2d or Linear "
                                         f"used only by it; it follows {type(prev).__name__} {prev_name}")
        if bn.running_mean is None or bn.running_var is None:
            raise self.unsupported(node, "BatchNorm without running statistics cannot be folded")
        var = bn.running_var.detach().double()
        gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(var)
        beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(var)
        scale = (gamma / torch.sqrt(var + bn.eps)).numpy()
        shift = (beta - bn.running_mean.detach().double() * gamma / torch.sqrt(var + bn.eps)).numpy()
        w = prev.weight.astype(np.float64)
        if isinstance(prev, ir.ConvTranspose2d):
            g = prev.groups
            w = w.reshape(g, w.shape[0] // g, w.shape[1], *w.shape[2:])
            w = (w * scale.reshape(g, 1, -1, 1, 1)).reshape(prev.weight.shape)
        else:
            w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
        b = prev.bias.astype(np.float64) if prev.bias is not None else np.zeros(len(scale))
        folded = type(prev)(**{**_fields(prev), "weight": w.astype(np.float32),
                               "bias": (b * scale + shift).astype(np.float32)})
        self.layers[prev_name] = folded
        self.alias[node] = prev_name

    # -- per-op handlers -----------------------------------------------------------------------
    def call_module(self, node: fx.Node) -> None:
        m = self.gm.get_submodule(node.target)
        name = self.layer_name(node)
        if isinstance(m, _IDENTITY_MODULES):
            self.alias[node] = self.src(node.args[0], node)
            return
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.fold_batchnorm(node, m)
            return
        inp = (self.src(node.args[0], node),)
        if isinstance(m, nn.Linear):
            layer = ir.Linear(name, inp, _np(m.weight), _np(m.bias))
        elif isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise self.unsupported(node, f"padding_mode={m.padding_mode!r}")
            layer = ir.Conv2d(name, inp, _np(m.weight), _np(m.bias), m.stride, self.conv_padding(node, m),
                              m.dilation, m.groups)
        elif isinstance(m, nn.ConvTranspose2d):
            layer = ir.ConvTranspose2d(name, inp, _np(m.weight), _np(m.bias), m.stride, m.padding,
                                       m.output_padding, m.dilation, m.groups)
        elif isinstance(m, nn.ReLU):
            layer = ir.ReLU(name, inp)
        elif isinstance(m, nn.ReLU6):
            layer = ir.ReLU(name, inp, clip=6.0)
        elif isinstance(m, nn.Hardtanh) and m.min_val == 0:
            layer = ir.ReLU(name, inp, clip=float(m.max_val))
        elif isinstance(m, QCFS):
            layer = ir.ReLU(name, inp, clip=float(m.clip.detach()), levels=m.levels)
        elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            layer = self.pool(node, name, inp, type(m), m.kernel_size, m.stride, m.padding,
                              getattr(m, "dilation", 1), m.ceil_mode, getattr(m, "count_include_pad", True),
                              getattr(m, "divisor_override", None))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            layer = self.adaptive_pool(node, name, inp)
        elif isinstance(m, nn.Upsample):
            layer = self.upsample(node, name, inp, m.mode, m.scale_factor)
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise self.unsupported(node, f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})")
            layer = ir.Flatten(name, inp)
        else:
            raise self.unsupported(node)
        self.add(node, layer)

    def conv_padding(self, node: fx.Node, m: nn.Conv2d) -> tuple[int, int]:
        if m.padding == "valid":
            return (0, 0)
        if m.padding == "same":
            total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
            if any(t % 2 for t in total):
                raise self.unsupported(node, "padding='same' with an even kernel pads asymmetrically")
            return (total[0] // 2, total[1] // 2)
        return tuple(m.padding)

    def pool(self, node, name, inp, kind, kernel, stride, padding, dilation, ceil_mode, count_include_pad,
             divisor_override) -> ir.Node:
        if ceil_mode or divisor_override or not count_include_pad or dilation not in (1, (1, 1)):
            raise self.unsupported(node, "pooling with ceil_mode, divisor_override, dilation or "
                                         "count_include_pad=False")
        cls = ir.AvgPool2d if kind in (nn.AvgPool2d, F.avg_pool2d) else ir.MaxPool2d
        return cls(name, inp, kernel=kernel, stride=stride or kernel, padding=padding)

    def adaptive_pool(self, node: fx.Node, name: str, inp: tuple[str]) -> ir.Node:
        in_shape = self.out_shape(node.args[0])[2:]
        out_shape = self.out_shape(node)[2:]
        if any(i % o for i, o in zip(in_shape, out_shape)):
            raise self.unsupported(node, f"adaptive pooling from {in_shape} to {out_shape} is not a fixed kernel")
        kernel = tuple(i // o for i, o in zip(in_shape, out_shape))
        return ir.AvgPool2d(name, inp, kernel=kernel, stride=kernel)

    def upsample(self, node, name, inp, mode, scale) -> ir.Node:
        in_shape, out_shape = self.out_shape(node.args[0]), self.out_shape(node)
        factors = {o // i for i, o in zip(in_shape[2:], out_shape[2:])}
        if mode != "nearest" or len(factors) != 1 or any(i * min(factors) != o
                                                          for i, o in zip(in_shape[2:], out_shape[2:])):
            raise self.unsupported(node, f"upsampling mode={mode!r} from {in_shape} to {out_shape}; "
                                         f"only nearest with one integer factor")
        return ir.Upsample(name, inp, scale=factors.pop())

    def call_function(self, node: fx.Node) -> None:
        fn, args, kw = node.target, node.args, node.kwargs
        name = self.layer_name(node)
        if fn in _IDENTITY_FUNCTIONS:
            self.alias[node] = self.src(args[0], node)
            return
        if fn in (F.relu, torch.relu):
            layer = ir.ReLU(name, (self.src(args[0], node),))
        elif fn is F.relu6:
            layer = ir.ReLU(name, (self.src(args[0], node),), clip=6.0)
        elif fn in (torch.flatten,):
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            if start != 1 or end != -1:
                raise self.unsupported(node, f"flatten(start_dim={start}, end_dim={end}); use start_dim=1")
            layer = ir.Flatten(name, (self.src(args[0], node),))
        elif fn in (operator.add, torch.add, operator.iadd):
            if len(args) != 2 or kw.get("alpha", 1) != 1 or not all(isinstance(a, fx.Node) for a in args):
                raise self.unsupported(node, "only the sum of two network tensors is supported")
            layer = ir.Add(name, (self.src(args[0], node), self.src(args[1], node)))
        elif fn in (torch.cat, torch.concat):
            tensors = args[0]
            dim = args[1] if len(args) > 1 else kw.get("dim", 0)
            ndim = len(self.out_shape(node))
            if dim % ndim != 1:
                raise self.unsupported(node, f"concatenation along dim={dim}; only channels (dim=1)")
            layer = ir.Concat(name, tuple(self.src(t, node) for t in tensors))
        elif fn in (F.avg_pool2d, F.max_pool2d):
            sig = ["kernel_size", "stride", "padding"] + (["dilation", "ceil_mode"] if fn is F.max_pool2d
                                                          else ["ceil_mode", "count_include_pad",
                                                                "divisor_override"])
            opts = dict(zip(sig, args[1:])) | dict(kw)
            layer = self.pool(node, name, (self.src(args[0], node),), fn, opts["kernel_size"],
                              opts.get("stride"), opts.get("padding", 0), opts.get("dilation", 1),
                              opts.get("ceil_mode", False), opts.get("count_include_pad", True),
                              opts.get("divisor_override"))
        elif fn is F.adaptive_avg_pool2d:
            layer = self.adaptive_pool(node, name, (self.src(args[0], node),))
        elif fn is F.interpolate:
            mode = kw.get("mode", args[3] if len(args) > 3 else "nearest")
            layer = self.upsample(node, name, (self.src(args[0], node),), mode, None)
        elif fn is getattr and args[1] == "shape":
            self.meta_nodes.add(node)
            return
        elif fn is operator.getitem and args[0] in self.meta_nodes:
            self.meta_nodes.add(node)
            return
        else:
            raise self.unsupported(node)
        self.add(node, layer)

    def call_method(self, node: fx.Node) -> None:
        method, args = node.target, node.args
        if method in _IDENTITY_METHODS:
            self.alias[node] = self.src(args[0], node)
            return
        if method == "size":
            self.meta_nodes.add(node)
            return
        name = self.layer_name(node)
        if method in ("relu", "relu_"):
            layer = ir.ReLU(name, (self.src(args[0], node),))
        elif method in ("view", "reshape", "flatten"):
            in_shape, out_shape = self.out_shape(args[0]), self.out_shape(node)
            if out_shape == in_shape:
                self.alias[node] = self.src(args[0], node)
                return
            if len(out_shape) != 2 or out_shape[1] != int(np.prod(in_shape[1:])):
                raise self.unsupported(node, f"reshape {tuple(in_shape)} -> {tuple(out_shape)}; only to (N, -1)")
            layer = ir.Flatten(name, (self.src(args[0], node),))
        else:
            raise self.unsupported(node)
        self.add(node, layer)

    def run(self, input_shape: tuple[int, ...]) -> ir.Network:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.layers:
                    raise self.unsupported(node, "more than one network input")
                self.add(node, ir.Input(node.name, (), input_shape))
            elif node.op == "output":
                result = node.args[0]
                results = result if isinstance(result, (tuple, list)) else (result,)
                self.outputs = tuple(self.src(r, node) for r in results)
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op == "call_function":
                self.call_function(node)
            elif node.op == "call_method":
                self.call_method(node)
            else:  # get_attr: parameters used outside a module
                raise self.unsupported(node, "parameters or buffers used outside their module")
        used = _reachable(self.layers, self.outputs)
        nodes = tuple(n for n in self.layers.values() if n.name in used)
        return ir.Network(nodes, self.outputs, self.name)


def _fields(node: ir.Node) -> dict[str, Any]:
    return {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}


def _reachable(layers: dict[str, ir.Node], outputs: tuple[str, ...]) -> set[str]:
    seen, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(layers[name].inputs)
    return seen


#: Inputs above this many values are first propagated on fake tensors (shapes only, a few seconds)
#: to check that one sample's activations fit in memory before a real sample is run.
_LARGE_INPUT = 1 << 22


def _check_activation_memory(gm: fx.GraphModule, input_shape: tuple[int, ...], model: str) -> None:
    """Refuse a model whose activations for one sample cannot fit in memory (all of them alive at
    once: an upper bound), computed on fake tensors so nothing is allocated."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        x = torch.empty(1, *input_shape)
    try:
        ShapeProp(gm, fake_mode=mode).propagate(x)
    except Exception:
        return  # the real propagation below reports the shape error
    values = sum(math.prod(meta.shape) for node in gm.graph.nodes
                 if hasattr(meta := node.meta.get("tensor_meta"), "shape"))
    check_memory(4 * values, f"{model}: activations of one {input_shape} sample")


@public
def import_torch(model: nn.Module, input_shape: Sequence[int], *, name: str | None = None) -> ir.Network:
    """Import a PyTorch model as an ANN :class:`~spikeforge.ir.network.Network`.

    Parameters
    ----------
    model : torch.nn.Module
        A feed-forward model with one tensor input (evaluated in ``eval()`` mode; not modified).
    input_shape : tuple of int
        Shape of one input sample, batch excluded, e.g. ``(1, 28, 28)``.
    name : str, optional
        Network name (default: the model's class name).

    Raises
    ------
    UnsupportedLayerError
        An operation has no IR layer (named with its module path), or the model cannot be traced.
    ShapeError
        ``input_shape`` does not fit the model.
    ResourceError
        One sample's activations would not fit in memory (checked on fake tensors for inputs
        above 2**22 values, before a real sample runs).

    Examples
    --------
    >>> net = import_torch(nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.ReLU()), (4,))
    >>> [type(n).__name__ for n in net.nodes]
    ['Input', 'Flatten', 'Linear', 'ReLU']
    """
    was_training = model.training
    model.eval()
    try:
        try:
            graph = _Tracer().trace(model)
        except Exception as exc:  # tracing runs user code: any failure means "cannot represent"
            raise UnsupportedLayerError(f"{type(model).__name__}: cannot be traced symbolically "
                                        f"(dynamic control flow or unsupported call): {exc}") from None
        gm = fx.GraphModule(model, graph)
        if math.prod(input_shape) > _LARGE_INPUT:
            _check_activation_memory(gm, tuple(input_shape), type(model).__name__)
        try:
            with torch.no_grad():
                ShapeProp(gm).propagate(torch.zeros(1, *input_shape))
        except Exception as exc:
            raise ShapeError(f"{type(model).__name__}: input shape {tuple(input_shape)} does not fit the "
                             f"model: {exc}") from None
        return _Importer(model, gm, name or type(model).__name__).run(tuple(input_shape))
    finally:
        model.train(was_training)
