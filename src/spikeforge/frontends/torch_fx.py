"""Import a ``torch.nn.Module`` into the network IR by symbolic tracing (``torch.fx``).

Every traced operation maps to IR layers, is an affine map per channel (BatchNorm, a product
with or a sum with a constant; folded into a neighbouring layer wherever that is exact, else a
depthwise 1×1 convolution or a diagonal Linear), or is dropped because it is the identity at
inference (Dropout, Identity, ``contiguous``). Anything else raises
:class:`UnsupportedLayerError` naming the operation and the module path where it happens:
nothing passes through silently.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
    "nn: Linear, Conv2d, ConvTranspose2d, BatchNorm1d/2d, ReLU, ReLU6, Hardtanh(0, c), QCFS, "
    "AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, Upsample(nearest), Flatten, Dropout, Identity; "
    "functions and methods: relu, relu6, hardtanh(0, c), clamp/clip(0, c), batch_norm, flatten, "
    "view/reshape to (N, -1), cat, sums and differences of tensors, + - * / by a constant, "
    "mean/sum over (2, 3), avg/max/adaptive pooling, interpolate(nearest)"
)

_IDENTITY_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_IDENTITY_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout}
_IDENTITY_METHODS = {"contiguous", "clone", "detach"}
_RELU = {F.relu, torch.relu, torch.relu_, "relu", "relu_"}
#: The arguments naming the lower and upper bound of each clamp, by function or method name.
_CLAMPS = {**dict.fromkeys((torch.clamp, torch.clip, "clamp", "clamp_", "clip", "clip_"), ("min", "max")),
           **dict.fromkeys((torch.clamp_min, "clamp_min", "clamp_min_"), ("min", None)),
           F.hardtanh: ("min_val", "max_val")}
#: Elementwise arithmetic, by function or method name.
_ARITHMETIC = {
    **dict.fromkeys((operator.add, operator.iadd, torch.add, "add", "add_"), "add"),
    **dict.fromkeys((operator.sub, operator.isub, torch.sub, torch.subtract, "sub", "sub_"), "sub"),
    **dict.fromkeys((operator.mul, operator.imul, torch.mul, torch.multiply, "mul", "mul_"), "mul"),
    **dict.fromkeys((operator.truediv, operator.itruediv, torch.div, torch.divide, torch.true_divide,
                     "div", "div_", "true_divide"), "div"),
    **dict.fromkeys((operator.neg, torch.neg, "neg", "neg_"), "neg"),
}
_REDUCTIONS = {torch.mean: "mean", "mean": "mean", torch.sum: "sum", "sum": "sum"}
_IN_PLACE = {operator.iadd, operator.isub, operator.imul, operator.itruediv}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


@dataclass(frozen=True, eq=False)
class _Affine:
    r""":math:`y_c = a_c x_c + b_c` on the channels (or features) of one layer's output, in float64:
    an import-time value, never an IR layer. :func:`_fold_affines` folds it into a neighbour where
    that is exact and makes the others a depthwise 1×1 ``Conv2d`` or a diagonal ``Linear``."""

    name: str
    inputs: tuple[str]
    scale: np.ndarray
    shift: np.ndarray


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


def _arguments(node: fx.Node, *names: str) -> dict[str, Any]:
    """A traced call's arguments by name: the positional ones named by ``names`` in order, then the keywords."""
    return dict(zip(names, node.args)) | dict(node.kwargs)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _dims(shape: tuple[int, ...]) -> str:
    return f"(N, {', '.join(map(str, shape[1:]))})"


class _Importer:
    def __init__(self, model: nn.Module, gm: fx.GraphModule, name: str):
        self.model = model
        self.gm = gm
        self.name = name
        self.layers: dict[str, ir.Node | _Affine] = {}  # IR name -> node, in insertion order
        self.shapes: dict[str, tuple[int, ...]] = {}  # IR name -> output shape (batch excluded)
        self.alias: dict[fx.Node, str] = {}  # fx node -> IR name of its value
        self.meta_nodes: set[fx.Node] = set()  # size()/shape values, only allowed as view arguments
        self.constants: dict[fx.Node, torch.Tensor] = {}  # parameters, buffers and tensor constants read
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

    def is_tensor(self, arg: Any) -> bool:
        """``arg`` is a tensor the network computes (not a constant, a shape or a number)."""
        return isinstance(arg, fx.Node) and arg in self.alias

    def src(self, arg: Any, node: fx.Node) -> str:
        if isinstance(arg, fx.Node) and arg in self.constants:
            raise self.unsupported(node, f"{arg.target!r} is a parameter, buffer or constant used outside "
                                         "its module, not a tensor the network computes")
        if not self.is_tensor(arg):
            raise self.unsupported(node, f"argument {arg!r} is not a tensor produced by the network")
        return self.alias[arg]

    def put(self, layer: ir.Node | _Affine, shape: tuple[int, ...]) -> str:
        self.layers[layer.name] = layer
        self.shapes[layer.name] = shape
        return layer.name

    def add(self, node: fx.Node, layer: ir.Node) -> None:
        self.alias[node] = self.put(layer, self.out_shape(node)[1:])

    def layer_name(self, node: fx.Node, suffix: str = "") -> str:
        base = (str(node.target) if node.op == "call_module" else node.name) + suffix
        name, i = base, 1
        while name in self.layers:
            name, i = f"{base}_{i}", i + 1
        return name

    def out_shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    # -- per-channel affine maps ---------------------------------------------------------------
    def affine(self, node: fx.Node, source: str, shape: tuple[int, ...], scale: Any, shift: Any,
               suffix: str = "") -> str:
        """Apply :math:`y_c = a_c x_c + b_c` (``scale``, ``shift``: a number or one per channel) to
        layer ``source`` of ``shape``; returns the name of the result."""
        if len(shape) not in (1, 3):
            raise self.unsupported(node, f"a per-channel scale or shift of an {_dims((1, *shape))} tensor; "
                                         "only of (N, C, H, W) or (N, F) tensors")
        a = np.broadcast_to(np.asarray(scale, np.float64), shape[:1]).copy()
        b = np.broadcast_to(np.asarray(shift, np.float64), shape[:1]).copy()
        if (a == 1).all() and not b.any():
            return source
        return self.put(_Affine(self.layer_name(node, suffix), (source,), a, b), shape)

    def per_channel(self, node: fx.Node, value: Any, tensor: fx.Node) -> np.ndarray:
        """A number or constant tensor combined elementwise with ``tensor``, as one value per channel."""
        shape = self.out_shape(tensor)
        if isinstance(value, fx.Node) and value in self.constants:
            value = self.constants[value]
        if _is_number(value):
            return np.full(shape[1], float(value))
        if not isinstance(value, torch.Tensor):
            raise self.unsupported(node, f"argument {value!r} is neither a number nor a constant tensor")
        padded = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
        if value.ndim > len(shape) or any(n != 1 for i, n in enumerate(padded) if i != 1) \
                or padded[1] not in (1, shape[1]):
            raise self.unsupported(node, f"a constant of shape {tuple(value.shape)} is not one value per "
                                         f"channel of an {_dims(shape)} tensor")
        return np.broadcast_to(value.detach().cpu().double().numpy().reshape(-1), (shape[1],)).copy()

    def constant(self, node: fx.Node, arg: Any) -> torch.Tensor | None:
        if arg is None:
            return None
        if isinstance(arg, fx.Node) and arg in self.constants:
            return self.constants[arg]
        raise self.unsupported(node, f"argument {arg!r} is not a constant tensor")

    def batchnorm(self, node: fx.Node, x: fx.Node, mean: torch.Tensor | None, var: torch.Tensor | None,
                  weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> None:
        if mean is None or var is None:
            raise self.unsupported(node, "BatchNorm without running statistics normalises each batch by "
                                         "its own statistics")
        scale = 1 / torch.sqrt(var.detach().double() + eps)
        if weight is not None:
            scale = scale * weight.detach().double()
        shift = -mean.detach().double() * scale
        if bias is not None:
            shift = shift + bias.detach().double()
        self.alias[node] = self.affine(node, self.src(x, node), self.out_shape(x)[1:], scale.cpu().numpy(),
                                       shift.cpu().numpy())

    def arithmetic(self, node: fx.Node, op: str) -> None:
        args = _arguments(node, "input", "other")
        x, y = args["input"], args.get("other")
        if not any(self.is_tensor(a) for a in (x, y)) and any(a in self.meta_nodes for a in (x, y)):
            self.meta_nodes.add(node)  # arithmetic on sizes, e.g. view(-1, x.size(1) * x.size(2))
            return
        if op == "neg":
            self.alias[node] = self.affine(node, self.src(x, node), self.out_shape(x)[1:], -1.0, 0.0)
            return
        if args.get("rounding_mode") is not None:
            raise self.unsupported(node, f"division with rounding_mode={args['rounding_mode']!r} is not linear")
        alpha = args.get("alpha", 1)
        if self.is_tensor(x) and self.is_tensor(y):
            if op in ("mul", "div"):
                raise self.unsupported(node, f"the {'product' if op == 'mul' else 'quotient'} of two network "
                                             "tensors is not linear")
            other = self.affine(node, self.src(y, node), self.out_shape(y)[1:], alpha if op == "add" else -alpha,
                                0.0, suffix="_scaled")
            self.add(node, ir.Add(self.layer_name(node), (self.src(x, node), other)))
            return
        tensor, value = (y, x) if self.is_tensor(y) else (x, y)
        source = self.src(tensor, node)
        c = self.per_channel(node, value, tensor)
        if op == "add":
            scale, shift = 1.0, alpha * c
        elif op == "sub":
            scale, shift = (1.0, -alpha * c) if tensor is x else (-alpha, c)
        elif op == "mul":
            scale, shift = c, 0.0
        elif tensor is y:
            raise self.unsupported(node, "dividing by a network tensor is not linear")
        elif not c.all():
            raise self.unsupported(node, "division by zero")
        else:
            scale, shift = 1 / c, 0.0
        self.alias[node] = self.affine(node, source, self.out_shape(tensor)[1:], scale, shift)

    def reduction(self, node: fx.Node, op: str) -> None:
        """A mean or sum over spatial dims: average pooling over them (then a scale for a sum, and a
        Flatten without ``keepdim``)."""
        args = _arguments(node, "input", "dim", "keepdim")
        x, dim, keep = args["input"], args.get("dim"), args.get("keepdim", False)
        shape = self.out_shape(x)
        dims = {d % len(shape) for d in (range(len(shape)) if dim is None else (dim,) if isinstance(dim, int)
                                          else dim)}
        if len(shape) != 4 or not dims <= {2, 3} or not (keep or dims == {2, 3}):
            raise self.unsupported(node, f"{op} over dims {sorted(dims)} of an {_dims(shape)} tensor"
                                         f"{'' if keep else ' without keepdim'}; only over the spatial dims "
                                         "(2, 3) of an (N, C, H, W) tensor, or one of them with keepdim=True")
        kernel = tuple(shape[d] if d in dims else 1 for d in (2, 3))
        pooled = (shape[1], *(n // k for n, k in zip(shape[2:], kernel)))
        name = self.put(ir.AvgPool2d(self.layer_name(node), (self.src(x, node),), kernel=kernel, stride=kernel),
                        pooled)
        if op == "sum":
            name = self.affine(node, name, pooled, float(math.prod(kernel)), 0.0, suffix="_scaled")
        if not keep:
            name = self.put(ir.Flatten(self.layer_name(node, "_flatten"), (name,)), (shape[1],))
        self.alias[node] = name

    def clipped_relu(self, node: fx.Node, name: str, inp: tuple[str], low: Any, high: Any) -> ir.ReLU:
        """A clamp to [low, high] (None: unbounded) as a ReLU, clipped at ``high``."""
        if not all(b is None or _is_number(b) for b in (low, high)):
            raise self.unsupported(node, "clamping to tensor bounds")
        if low != 0 or (high is not None and high <= 0):
            raise self.unsupported(node, f"clamping to [{low}, {high}] is not a ReLU: only a lower bound of 0 "
                                         "and an upper bound above 0 (or none)")
        return ir.ReLU(name, inp, clip=None if high is None or high == math.inf else float(high))

    def clamp(self, node: fx.Node, name: str, bounds: tuple[str, str | None]) -> ir.ReLU:
        args = _arguments(node, "input", *bounds)
        return self.clipped_relu(node, name, (self.src(args["input"], node),), args.get(bounds[0]),
                                 args.get(bounds[1]))

    # -- per-op handlers -----------------------------------------------------------------------
    def call_module(self, node: fx.Node) -> None:
        m = self.gm.get_submodule(node.target)
        name = self.layer_name(node)
        if isinstance(m, _IDENTITY_MODULES):
            self.alias[node] = self.src(node.args[0], node)
            return
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            self.batchnorm(node, node.args[0], m.running_mean, m.running_var, m.weight, m.bias, m.eps)
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
        elif isinstance(m, nn.Hardtanh):  # also ReLU6
            layer = self.clipped_relu(node, name, inp, m.min_val, m.max_val)
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

    def reshape(self, node: fx.Node) -> None:
        x = node.args[0]
        in_shape, out_shape = self.out_shape(x), self.out_shape(node)
        if out_shape == in_shape:
            self.alias[node] = self.src(x, node)
            return
        if len(out_shape) != 2 or out_shape[1] != math.prod(in_shape[1:]):
            raise self.unsupported(node, f"reshape {tuple(in_shape)} -> {tuple(out_shape)}; only to (N, -1)")
        self.add(node, ir.Flatten(self.layer_name(node), (self.src(x, node),)))

    def call_function(self, node: fx.Node) -> None:
        fn, args, kw = node.target, node.args, node.kwargs
        name = self.layer_name(node)
        if fn in _IDENTITY_FUNCTIONS:
            self.alias[node] = self.src(args[0], node)
            return
        if fn in _ARITHMETIC:
            self.arithmetic(node, _ARITHMETIC[fn])
            return
        if fn in _REDUCTIONS:
            self.reduction(node, _REDUCTIONS[fn])
            return
        if fn is torch.reshape:
            self.reshape(node)
            return
        if fn is F.batch_norm:
            a = _arguments(node, "input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
                           "eps")
            if a.get("training", False):
                raise self.unsupported(node, "batch_norm(training=True) normalises each batch by its own statistics")
            self.batchnorm(node, a["input"], *(self.constant(node, a.get(k)) for k in
                                               ("running_mean", "running_var", "weight", "bias")),
                           a.get("eps", 1e-5))
            return
        if fn in _RELU:
            layer = ir.ReLU(name, (self.src(args[0], node),))
        elif fn is F.relu6:
            layer = ir.ReLU(name, (self.src(args[0], node),), clip=6.0)
        elif fn in _CLAMPS:
            layer = self.clamp(node, name, _CLAMPS[fn])
        elif fn is torch.flatten:
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            if start != 1 or end != -1:
                raise self.unsupported(node, f"flatten(start_dim={start}, end_dim={end}); use start_dim=1")
            layer = ir.Flatten(name, (self.src(args[0], node),))
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
            opts = _arguments(node, "input", *sig)
            layer = self.pool(node, name, (self.src(args[0], node),), fn, opts["kernel_size"],
                              opts.get("stride"), opts.get("padding", 0), opts.get("dilation", 1),
                              opts.get("ceil_mode", False), opts.get("count_include_pad", True),
                              opts.get("divisor_override"))
        elif fn is F.adaptive_avg_pool2d:
            layer = self.adaptive_pool(node, name, (self.src(args[0], node),))
        elif fn is F.interpolate:
            mode = kw.get("mode", args[3] if len(args) > 3 else "nearest")
            layer = self.upsample(node, name, (self.src(args[0], node),), mode, None)
        elif fn is getattr and args[1] == "shape" or fn is operator.getitem and args[0] in self.meta_nodes:
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
        if method in _ARITHMETIC:
            self.arithmetic(node, _ARITHMETIC[method])
            return
        if method in _REDUCTIONS:
            self.reduction(node, _REDUCTIONS[method])
            return
        if method in ("view", "reshape", "flatten"):
            self.reshape(node)
            return
        name = self.layer_name(node)
        if method in _RELU:
            layer = ir.ReLU(name, (self.src(args[0], node),))
        elif method in _CLAMPS:
            layer = self.clamp(node, name, _CLAMPS[method])
        else:
            raise self.unsupported(node)
        self.add(node, layer)

    def in_place(self, node: fx.Node) -> bool:
        """The operation overwrites its first argument (``x.mul_(2)``, ``F.relu(x, inplace=True)``)."""
        if node.op == "call_module":
            return getattr(self.gm.get_submodule(node.target), "inplace", False) is True
        if node.op == "call_method":
            return node.target.endswith("_")
        return node.target in _IN_PLACE or node.kwargs.get("inplace", False) is True

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
            elif node.op == "get_attr":  # a parameter, buffer or tensor constant: only its value is read
                value = self.gm
                for part in node.target.split("."):
                    value = getattr(value, part)
                self.constants[node] = value
            else:  # call_module, call_function or call_method
                getattr(self, node.op)(node)
                if node in self.alias and self.in_place(node) and self.is_tensor(node.args[0]):
                    self.alias[node.args[0]] = self.alias[node]  # later reads of the argument see the result
        used = _reachable(self.layers, self.outputs)
        layers = {name: layer for name, layer in self.layers.items() if name in used}
        nodes, outputs = _fold_affines(layers, self.outputs, self.shapes)
        return ir.Network(nodes, outputs, self.name)


def _reachable(layers: dict[str, ir.Node | _Affine], outputs: tuple[str, ...]) -> set[str]:
    seen, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(layers[name].inputs)
    return seen


# -- folding affine maps ---------------------------------------------------------------------------
# An affine map y = a·x + b per channel is folded, in float64, into the layer that computes x
# when that layer feeds nothing else (through the layers it commutes with exactly: upsampling,
# pooling, flattening, concatenation, residual sums, a ReLU for a positive scale), else into the
# one layer that reads y when that is exact, else it stays a layer of its own.

Layers = dict[str, ir.Node | _Affine]


def _with_affine(node: ir.Node, in_shape: tuple[int, ...], *, before: tuple[np.ndarray, np.ndarray] | None = None,
                 after: tuple[np.ndarray, np.ndarray] | None = None) -> ir.Node:
    """A layer with weights composed with per-channel affine maps ``(scale, shift)`` of its input
    (``before``) and of its output (``after``), in float64; every output sums the same input taps
    (the caller checks), so a shift before it becomes a bias."""
    in_ch, out_ch, bias_ch = node.weight_channels(in_shape)
    w = node.weight.astype(np.float64)
    bias = np.zeros(len(bias_ch)) if node.bias is None else node.bias.astype(np.float64)
    if before is not None:
        scale, shift = before
        taps = np.broadcast_to(out_ch, w.shape).ravel()
        bias = bias + np.bincount(taps, (w * shift[in_ch]).ravel(), minlength=len(bias))
        w = w * scale[in_ch]
    if after is not None:
        scale, shift = after
        w = w * scale[out_ch]
        bias = bias * scale[bias_ch] + shift[bias_ch]
    return dataclasses.replace(node, weight=w, bias=bias if node.bias is not None or bias.any() else None)


def _merge(parts: list[Layers | None]) -> Layers | None:
    return None if any(p is None for p in parts) else {k: v for p in parts for k, v in p.items()}


def _absorb(layers: Layers, uses: Counter, shapes: dict[str, tuple[int, ...]], name: str, scale: np.ndarray,
            shift: np.ndarray) -> Layers | None:
    """The layers to replace so that layer ``name`` outputs ``scale · y + shift`` (per channel), or
    None where that is not exact: ``name`` feeds another layer too, or does not commute with the map."""
    node = layers[name]
    if uses[name] != 1:
        return None
    if isinstance(node, _Affine):
        return {name: dataclasses.replace(node, scale=node.scale * scale, shift=node.shift * scale + shift)}
    if node.has_weights:
        return {name: _with_affine(node, shapes[node.inputs[0]], after=(scale, shift))}
    if isinstance(node, ir.Add):  # the scale into every input, the shift into one that takes it
        scaled = [_absorb(layers, uses, shapes, i, scale, np.zeros_like(shift)) for i in node.inputs]
        if any(s is None for s in scaled):
            return None
        for k, i in enumerate(node.inputs):
            shifted = _absorb(layers, uses, shapes, i, scale, shift)
            if shifted is not None:
                return _merge([*scaled[:k], shifted, *scaled[k + 1:]])
        return None
    if isinstance(node, ir.Concat):
        cuts = np.cumsum([shapes[i][0] for i in node.inputs])[:-1]
        return _merge([_absorb(layers, uses, shapes, i, a, b)
                       for i, a, b in zip(node.inputs, np.split(scale, cuts), np.split(shift, cuts))])
    if isinstance(node, ir.Flatten):  # per feature: exact when constant over each channel's features
        a, b = scale.reshape(shapes[node.inputs[0]][0], -1), shift.reshape(shapes[node.inputs[0]][0], -1)
        if (a != a[:, :1]).any() or (b != b[:, :1]).any():
            return None
        return _absorb(layers, uses, shapes, node.inputs[0], a[:, 0], b[:, 0])
    if isinstance(node, ir.ReLU):  # relu(a·x) = a·relu(x) for a > 0; a clip scales with one a
        if shift.any() or (scale <= 0).any() or (node.clip is not None and (scale != scale[0]).any()):
            return None
        inner = _absorb(layers, uses, shapes, node.inputs[0], scale, shift)
        if inner is None or node.clip is None:
            return inner
        return inner | {name: dataclasses.replace(node, clip=node.clip * float(scale[0]))}
    commutes = (isinstance(node, ir.Upsample)
                or isinstance(node, ir.MaxPool2d) and (scale > 0).all()  # padding is -inf
                or isinstance(node, ir.AvgPool2d) and (node.padding == (0, 0) or not shift.any()))  # zero padding
    return _absorb(layers, uses, shapes, node.inputs[0], scale, shift) if commutes else None


def _fold_forward(layers: Layers, uses: Counter, shapes: dict[str, tuple[int, ...]], name: str,
                  scale: np.ndarray, shift: np.ndarray) -> Layers | None:
    """The one layer reading affine ``name``, rewritten to read the affine's input, or None: exact
    for a Linear, and for a Conv2d without padding or without shift (padding is not shifted)."""
    readers = [layer for layer in layers.values() if name in layer.inputs]
    if uses[name] != 1 or len(readers) != 1:
        return None
    (reader,) = readers
    if not (isinstance(reader, ir.Linear)
            or isinstance(reader, ir.Conv2d) and (reader.padding == (0, 0) or not shift.any())):
        return None
    return {reader.name: _with_affine(reader, shapes[name], before=(scale, shift))}


def _affine_layer(affine: _Affine, shape: tuple[int, ...]) -> ir.Node:
    """An affine map kept as a layer: a depthwise 1×1 convolution, or a diagonal Linear on vectors."""
    bias = affine.shift if affine.shift.any() else None
    if len(shape) == 3:
        return ir.Conv2d(affine.name, affine.inputs, affine.scale.reshape(-1, 1, 1, 1), bias, groups=shape[0])
    check_memory(8 * shape[0] ** 2, f"layer {affine.name}: a per-feature scale of {shape[0]} features as a "
                                    "diagonal Linear")  # and the layer's copy
    return ir.Linear(affine.name, affine.inputs, np.diag(affine.scale.astype(np.float32)), bias)


def _float32(node: ir.Node) -> ir.Node:
    """``node`` with the arrays folded in float64 stored as float32, as every imported layer."""
    arrays = {f.name: value.astype(np.float32) for f in dataclasses.fields(node)
              if isinstance(value := getattr(node, f.name), np.ndarray) and value.dtype == np.float64}
    return dataclasses.replace(node, **arrays) if arrays else node


def _fold_affines(layers: Layers, outputs: tuple[str, ...],
                  shapes: dict[str, tuple[int, ...]]) -> tuple[tuple[ir.Node, ...], tuple[str, ...]]:
    """Fold every affine map into its neighbours where exact, in order; the rest become layers.
    Returns the layers and the outputs."""
    layers = dict(layers)
    pending = [name for name, layer in layers.items() if isinstance(layer, _Affine)]
    while pending:
        name = pending.pop(0)
        affine = layers[name]
        (source,) = affine.inputs
        uses = Counter(i for layer in layers.values() for i in layer.inputs) + Counter(outputs)
        changes = _absorb(layers, uses, shapes, source, affine.scale, affine.shift)
        if changes is None:
            changes = _fold_forward(layers, uses, shapes, name, affine.scale, affine.shift)
        if changes is None:
            continue
        del layers[name]
        layers.update(changes)
        # a map combined with the one before it (kept so far): that one may fold now
        pending[:0] = [k for k, v in changes.items() if isinstance(v, _Affine)]
        layers = {k: dataclasses.replace(v, inputs=tuple(source if i == name else i for i in v.inputs))
                  if name in v.inputs else v for k, v in layers.items()}
        outputs = tuple(source if o == name else o for o in outputs)
    nodes = tuple(_float32(_affine_layer(layer, shapes[name]) if isinstance(layer, _Affine) else layer)
                  for name, layer in layers.items())
    return nodes, outputs


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
    except Exception:  # noqa: BLE001 - the real propagation below reports the shape error
        return
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
        except Exception as exc:  # noqa: BLE001 - tracing runs user code: any failure means "cannot represent"
            raise UnsupportedLayerError(f"{type(model).__name__}: cannot be traced symbolically "
                                        f"(dynamic control flow or unsupported call): {exc}") from None
        gm = fx.GraphModule(model, graph)
        if math.prod(input_shape) > _LARGE_INPUT:
            _check_activation_memory(gm, tuple(input_shape), type(model).__name__)
        try:
            with torch.no_grad():
                ShapeProp(gm).propagate(torch.zeros(1, *input_shape))
        except Exception as exc:  # noqa: BLE001 - running the model on the shape raises whatever its code raises
            raise ShapeError(f"{type(model).__name__}: input shape {tuple(input_shape)} does not fit the "
                             f"model: {exc}") from None
        return _Importer(model, gm, name or type(model).__name__).run(tuple(input_shape))
    finally:
        model.train(was_training)
