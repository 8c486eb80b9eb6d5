"""Network IR: a typed, immutable, layer-level graph of an ANN or SNN.

Connectivity stays structured (a convolution is a kernel, not a synapse list), so an
ImageNet-size network fits in memory; neuron- and synapse-level views are derived on demand.
Every node is a frozen dataclass; its array fields are read-only numpy arrays. A
:class:`Network` checks at construction that names are unique, inputs precede their consumers,
parameters are finite, and shapes fit; it infers every node's output shape (batch excluded).

Shapes are ``(C, H, W)`` for feature maps and ``(F,)`` for vectors.

Every node checks its own fields at construction, by their declared types, so a network built in
Python, loaded from a folder or edited by hand is held to one set of rules: a name is a non-empty
string, ``inputs`` a tuple of names, arrays are numeric (integer where they index) of the
layer's number of dimensions and finite, strides, kernels, dilations, groups, scales and levels
are integers ≥ 1, paddings integers ≥ 0. A violation raises
:class:`~spikeforge.errors.InvalidNetworkError` (or :class:`~spikeforge.errors.ShapeError` for an
array of the wrong number of dimensions or an empty shape) naming the layer and field.

Examples
--------
>>> import numpy as np
>>> net = Network((Input("x", (), (4,)),
...                Linear("fc", ("x",), np.ones((3, 4), np.float32), None),
...                ReLU("act", ("fc",))), outputs=("act",))
>>> net.shape("act"), net.kind
((3,), 'ann')
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from spikeforge.errors import (
    InvalidDataError,
    InvalidNetworkError,
    NotConvertedError,
    ShapeError,
    SimulationError,
)
from spikeforge.resources import check_memory

Shape = tuple[int, ...]


def _show(value: object) -> str:
    """``repr(value)``, shortened to one readable line for an error message."""
    text = " ".join(repr(value).split())  # an array's repr spans lines
    return text if len(text) <= 60 else f"{text[:45]}... ({type(value).__name__})"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _integer(value: object, where: str, low: int = 1) -> int:
    if not _is_int(value):
        raise InvalidNetworkError(f"{where}: {_show(value)} is not an integer")
    if value < low:
        raise InvalidNetworkError(f"{where}: {value} must be ≥ {low}")
    return int(value)


def _pair(value: int | Iterable[int], where: str, low: int = 1) -> tuple[int, int]:
    """An integer or a pair of integers ``≥ low`` as a pair."""
    if _is_int(value):
        return (_integer(value, where, low),) * 2
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidNetworkError(f"{where}: {_show(value)} is neither an integer nor a pair of integers")
    return (_integer(value[0], where, low), _integer(value[1], where, low))


def _real(value: object, where: str) -> float:
    """A finite real number (a Python or numpy number, or a 0-d numeric array) as a float."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise InvalidNetworkError(f"{where}: {_show(value)} is not a number")
    if not math.isfinite(value):
        raise InvalidNetworkError(f"{where}: {value} is not finite")
    return float(value)


def _shape(value: object, where: str) -> Shape:
    if (not isinstance(value, (tuple, list)) or not value
            or not all(_is_int(s) and s > 0 for s in value)):
        raise ShapeError(f"{where}: {_show(value)} must be a non-empty tuple of positive integers")
    return tuple(int(s) for s in value)


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidNetworkError(f"{where}: {_show(value)} is not a non-empty string")
    return value


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise InvalidNetworkError(f"{where}: {_show(value)} is not a tuple of layer names")
    return tuple(value)


def _frozen(array: object, where: str, ndims: tuple[int, ...] | None = None,
            kinds: str = "iuf") -> np.ndarray:
    """A read-only copy of ``array``: numbers of a dtype kind in ``kinds`` (floats as float32, or
    float64 if given so), with ``ndim`` in ``ndims``; rejects NaN/Inf and empty matrices."""
    try:
        out = np.array(array, copy=True)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. ragged nested lists
        raise InvalidNetworkError(f"{where}: not an array ({str(exc).splitlines()[0][:80]})") from None
    if out.dtype.kind not in kinds:
        want = "integers" if kinds == "iu" else "numbers"
        raise InvalidNetworkError(f"{where}: values must be {want}, not {out.dtype}")
    if ndims is not None and out.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeError(f"{where}: shape {out.shape} is {out.ndim}-D, must be {want}")
    if out.ndim >= 2 and out.size == 0:
        raise ShapeError(f"{where}: shape {out.shape} is empty")
    if out.dtype.kind == "f":
        out = out.astype(np.float64 if out.dtype == np.float64 else np.float32, copy=False)
        bad = ~np.isfinite(out)
        if bad.any():
            raise InvalidNetworkError(f"{where}: {int(bad.sum())} of {out.size} values are NaN or Inf")
    out.setflags(write=False)
    return out


def _gains(value: object, where: str) -> tuple[np.ndarray | None, ...]:
    if not isinstance(value, (tuple, list)):
        raise InvalidNetworkError(f"{where}: {_show(value)} is not a tuple of per-input gains")
    return tuple(None if g is None else _frozen(g, f"{where}[{i}]", (0, 1)) for i, g in enumerate(value))


#: Lower bounds of integer fields (alone or as pairs) other than 1.
_LOW = {"padding": 0, "output_padding": 0}

#: The check of a field by its declared type (``Optional`` stripped): ``check(node, field, value,
#: where)`` returns the value to store or raises. Fields of other types are not checked.
_CHECKS: dict[str, Callable[[Node, str, object, str], object]] = {
    "str": lambda node, f, v, where: _name(v, where),
    "tuple[str,...]": lambda node, f, v, where: _names(v, where),
    "int": lambda node, f, v, where: _integer(v, where, _LOW.get(f, 1)),
    "tuple[int,int]": lambda node, f, v, where: _pair(v, where, _LOW.get(f, 1)),
    "Shape": lambda node, f, v, where: _shape(v, where),
    "np.ndarray": lambda node, f, v, where: _frozen(v, where, node.array_ndim.get(f),
                                                    "iu" if f in node.index_arrays else "iuf"),
    "tuple[np.ndarray|None,...]": lambda node, f, v, where: _gains(v, where),
}


@dataclass(frozen=True, eq=False)
class Node:
    """A layer of the network. ``inputs`` name the nodes whose outputs it consumes."""

    name: str
    inputs: tuple[str, ...]

    arity: ClassVar[int | None] = 1  # number of inputs; None means two or more
    #: A layer of neurons: a membrane per element, stepped through time, mapped onto hardware neurons.
    is_neuron: ClassVar[bool] = False
    #: Its output is binary spikes (IF, LIF, CubaLIF); a non-spiking neuron layer (LI, CubaLI: a
    #: read-out) outputs its graded membrane potential and sends no spikes.
    spiking: ClassVar[bool] = False
    #: A synapse layer: each output is a weighted sum of inputs (the layers with a ``weight`` array,
    #: and AvgPool2d, whose weights are fixed).
    is_synaptic: ClassVar[bool] = False
    #: Its synapses' weights are a ``weight`` array (and a ``bias`` may follow): Linear, Conv2d,
    #: ConvTranspose2d, SparseLinear.
    has_weights: ClassVar[bool] = False
    #: A per-channel scale of the input reaches the output unchanged: values are moved, averaged or
    #: compared per channel, never weighted (pooling, upsampling).
    keeps_scale: ClassVar[bool] = False
    #: Allowed numbers of dimensions of array fields (others: any).
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {"threshold": (0, 1)}
    #: Array fields holding indices (integers).
    index_arrays: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        """Check every field by its declared type (see the module docstring); store arrays as
        read-only copies, lists as tuples, numbers as ``int`` / ``float``."""
        name = _name(self.name, f"{type(self).__name__} layer name")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            where = f"layer {name}.{f.name}"
            declared = f.type.replace(" ", "") if isinstance(f.type, str) else ""
            optional = declared.endswith("|None")
            check = _CHECKS.get(declared.removesuffix("|None"))
            if value is None:
                if optional or check is None:
                    continue
                raise InvalidNetworkError(f"{where}: missing")
            if check is not None:
                value = check(self, f.name, value, where)
            elif isinstance(value, np.ndarray):
                value = _frozen(value, where)
            elif isinstance(value, list):
                value = tuple(value)
            object.__setattr__(self, f.name, value)

    def output_shape(self, shapes: list[Shape]) -> Shape:  # pragma: no cover - abstract
        raise NotImplementedError

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        """Exact number of synapses from an input of ``in_shape`` to an output of ``out_shape``
        (0 for layers without synapses)."""
        return 0

    def _fail(self, message: str) -> ShapeError:
        return ShapeError(f"layer {self.name} ({type(self).__name__}): {message}")


@dataclass(frozen=True, eq=False)
class Input(Node):
    """Network input of a fixed ``shape`` (batch excluded), injected as current.

    ``temporal`` False: one value per sample, the same at every timestep (data ``(N, *shape)``).
    True: a new value every timestep, e.g. spike trains or event frames (data ``(N, T, *shape)``)."""

    shape: Shape = ()
    temporal: bool = False
    arity: ClassVar[int | None] = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.temporal, (bool, np.bool_)):
            raise InvalidNetworkError(f"layer {self.name}.temporal: {_show(self.temporal)} is not true or false")
        object.__setattr__(self, "temporal", bool(self.temporal))

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return self.shape


@dataclass(frozen=True, eq=False)
class Linear(Node):
    r"""Dense synapses: :math:`y = W x + b`, ``weight`` of shape (out, in)."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    is_synaptic: ClassVar[bool] = True
    has_weights: ClassVar[bool] = True
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {"weight": (2,), "bias": (1,)}

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        if len(s) != 1:
            raise self._fail(f"input shape {s} is not a vector; insert a Flatten")
        if self.weight.ndim != 2 or self.weight.shape[1] != s[0]:
            raise self._fail(f"weight {self.weight.shape} does not take {s[0]} inputs")
        if self.bias is not None and self.bias.shape != (self.weight.shape[0],):
            raise self._fail(f"bias {self.bias.shape} does not match {self.weight.shape[0]} outputs")
        return (self.weight.shape[0],)

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        return int(self.weight.size)

    def weight_channels(self, in_shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input and output channel of every weight (index arrays broadcastable to ``weight``), and
        the output channel of every bias entry."""
        out_c, in_c = self.weight.shape
        return np.arange(in_c)[None, :], np.arange(out_c)[:, None], np.arange(out_c)


def _conv_taps(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int) -> np.ndarray:
    """Number of kernel taps landing inside the input for each output index (padding excluded)."""
    o = np.arange(n_out)[:, None] * stride - pad + np.arange(k)[None, :] * dil
    return ((o >= 0) & (o < n_in)).sum(axis=1)


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    r"""2-D convolution, ``weight`` (out, in/groups, kh, kw):
    :math:`y_{o,p} = b_o + \sum_{i,k} W_{o,i,k}\, x_{i,\, p s + k d - pad}`."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    is_synaptic: ClassVar[bool] = True
    has_weights: ClassVar[bool] = True
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {"weight": (4,), "bias": (1,)}

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        if len(s) != 3:
            raise self._fail(f"input shape {s} is not (C, H, W)")
        w = self.weight
        if w.ndim != 4 or self.groups < 1 or w.shape[0] % self.groups:
            raise self._fail(f"weight {w.shape} with groups={self.groups} is not a conv kernel")
        if w.shape[1] * self.groups != s[0]:
            raise self._fail(f"weight {w.shape} with groups={self.groups} takes {w.shape[1] * self.groups} "
                             f"input channels, input has {s[0]}")
        if self.bias is not None and self.bias.shape != (w.shape[0],):
            raise self._fail(f"bias {self.bias.shape} does not match {w.shape[0]} output channels")
        hw = []
        for n, k, st, p, d in zip(s[1:], w.shape[2:], self.stride, self.padding, self.dilation):
            out = (n + 2 * p - d * (k - 1) - 1) // st + 1
            if out <= 0 or st <= 0 or p < 0 or d <= 0:
                raise self._fail(f"input {s} with kernel {w.shape[2:]}, stride {self.stride}, "
                                 f"padding {self.padding} gives an empty output")
            hw.append(out)
        return (w.shape[0], *hw)

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        """Exact number of synapses (padding taps excluded)."""
        th = _conv_taps(in_shape[1], out_shape[1], self.weight.shape[2], self.stride[0], self.padding[0], self.dilation[0])
        tw = _conv_taps(in_shape[2], out_shape[2], self.weight.shape[3], self.stride[1], self.padding[1], self.dilation[1])
        return int(self.weight.shape[0] * self.weight.shape[1] * th.sum() * tw.sum())

    def weight_channels(self, in_shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`Linear.weight_channels`; output channel ``o`` reads the inputs of its group."""
        out_c, per_group = self.weight.shape[:2]
        out = np.arange(out_c)
        first = out // (out_c // self.groups) * per_group
        return ((first[:, None] + np.arange(per_group))[:, :, None, None], out[:, None, None, None], out)


@dataclass(frozen=True, eq=False)
class ConvTranspose2d(Node):
    """Transposed 2-D convolution, ``weight`` (in, out/groups, kh, kw), as ``torch.nn.ConvTranspose2d``."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    is_synaptic: ClassVar[bool] = True
    has_weights: ClassVar[bool] = True
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {"weight": (4,), "bias": (1,)}

    def __post_init__(self) -> None:
        super().__post_init__()
        for op, st, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(st, d):  # as torch.nn.ConvTranspose2d
                raise InvalidNetworkError(f"layer {self.name}.output_padding: {self.output_padding} must be "
                                          f"smaller than the stride {self.stride} or the dilation {self.dilation}")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        w = self.weight
        if len(s) != 3 or w.ndim != 4 or w.shape[0] != s[0] or w.shape[0] % self.groups:
            raise self._fail(f"weight {w.shape} (groups={self.groups}) does not take input {s}")
        out_c = w.shape[1] * self.groups
        if self.bias is not None and self.bias.shape != (out_c,):
            raise self._fail(f"bias {self.bias.shape} does not match {out_c} output channels")
        hw = []
        for n, k, st, p, op, d in zip(s[1:], w.shape[2:], self.stride, self.padding, self.output_padding,
                                      self.dilation):
            out = (n - 1) * st - 2 * p + d * (k - 1) + op + 1
            if out <= 0:
                raise self._fail(f"input {s} gives an empty output")
            hw.append(out)
        return (out_c, *hw)

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        """Exact number of synapses: each input position feeds the kernel taps landing inside the output."""
        # A transposed conv is the adjoint of a conv from the output to the input: same taps.
        th = _conv_taps(out_shape[1], in_shape[1], self.weight.shape[2], self.stride[0], self.padding[0], self.dilation[0])
        tw = _conv_taps(out_shape[2], in_shape[2], self.weight.shape[3], self.stride[1], self.padding[1], self.dilation[1])
        return int(self.weight.shape[0] * self.weight.shape[1] * th.sum() * tw.sum())

    def weight_channels(self, in_shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`Linear.weight_channels`; input channel ``i`` feeds the outputs of its group."""
        in_c, per_group = self.weight.shape[:2]
        inp = np.arange(in_c)
        first = inp // (in_c // self.groups) * per_group
        return inp[:, None, None, None], (first[:, None] + np.arange(per_group))[:, :, None, None], \
            np.arange(per_group * self.groups)


@dataclass(frozen=True, eq=False)
class SparseLinear(Node):
    r"""Explicit synapse list for hand-built, irregular SNNs: :math:`y_{post} \mathrel{+}= w\, x_{pre}`.

    ``pre``, ``post`` and ``weight`` have one entry per synapse; the input is flattened.
    """

    pre: np.ndarray = None
    post: np.ndarray = None
    weight: np.ndarray = None
    n_out: int = 0
    bias: np.ndarray | None = None
    out_shape: Shape | None = None  # optional (C, H, W) view of the n_out outputs
    is_synaptic: ClassVar[bool] = True
    has_weights: ClassVar[bool] = True
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {"pre": (1,), "post": (1,), "weight": (1,), "bias": (1,)}
    index_arrays: ClassVar[tuple[str, ...]] = ("pre", "post")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        n_in = int(np.prod(s))
        if not (self.pre.shape == self.post.shape == self.weight.shape) or self.pre.ndim != 1:
            raise self._fail(f"pre {self.pre.shape}, post {self.post.shape}, weight {self.weight.shape} differ")
        if self.pre.size and (self.pre.min() < 0 or self.pre.max() >= n_in):
            raise self._fail(f"presynaptic index {int(self.pre.max())} outside the {n_in} inputs")
        if self.post.size and (self.post.min() < 0 or self.post.max() >= self.n_out):
            raise self._fail(f"postsynaptic index {int(self.post.max())} outside the {self.n_out} outputs")
        if self.bias is not None and self.bias.shape != (self.n_out,):
            raise self._fail(f"bias {self.bias.shape} does not match {self.n_out} outputs")
        shape = tuple(self.out_shape) if self.out_shape else (self.n_out,)
        if int(np.prod(shape)) != self.n_out:
            raise self._fail(f"out_shape {shape} does not hold {self.n_out} outputs")
        return shape

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        return int(self.weight.size)

    def weight_channels(self, in_shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`Linear.weight_channels`, for the channel-major flattened input and output
        (one bias entry per output element)."""
        out_shape = tuple(self.out_shape) if self.out_shape else (self.n_out,)
        per_in, per_out = math.prod(in_shape[1:]), math.prod(out_shape[1:])
        return self.pre // per_in, self.post // per_out, np.arange(self.n_out) // per_out


@dataclass(frozen=True, eq=False)
class _Pool(Node):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    keeps_scale: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel)):  # as torch's pooling
            raise InvalidNetworkError(f"layer {self.name}.padding: {self.padding} must be at most half "
                                      f"the kernel {self.kernel}")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        if len(s) != 3:
            raise self._fail(f"input shape {s} is not (C, H, W)")
        hw = [(n + 2 * p - k) // st + 1 for n, k, st, p in zip(s[1:], self.kernel, self.stride, self.padding)]
        if min(hw) <= 0:
            raise self._fail(f"kernel {self.kernel} does not fit input {s}")
        return (s[0], *hw)


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool):
    """Average pooling (padding counts as zero, as ``count_include_pad=True``): a fixed linear synapse layer."""

    is_synaptic: ClassVar[bool] = True

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        """One synapse per window tap of every output, padding taps included (they are weights too)."""
        return int(np.prod(out_shape)) * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True, eq=False)
class MaxPool2d(_Pool):
    """Max pooling. On spikes, the simulator passes the spikes of the window's highest-rate neuron."""


@dataclass(frozen=True, eq=False)
class Upsample(Node):
    """Nearest-neighbour upsampling by an integer ``scale`` in both spatial dimensions."""

    scale: int = 2
    keeps_scale: ClassVar[bool] = True

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        if len(s) != 3 or self.scale < 1:
            raise self._fail(f"input {s} with scale {self.scale}")
        return (s[0], s[1] * self.scale, s[2] * self.scale)


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten (C, H, W) into (C·H·W,), channel-major as ``torch.flatten(x, 1)``."""

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (int(np.prod(shapes[0])),)


@dataclass(frozen=True, eq=False)
class Add(Node):
    r"""Elementwise sum of two or more inputs, each scaled by a per-channel ``gains[i]`` (None = 1):
    :math:`y = \sum_i g_i \odot x_i`. Gains bring residual branches to a common scale after
    conversion; on hardware a gain is a one-to-one synapse weight."""

    gains: tuple[np.ndarray | None, ...] | None = None
    arity: ClassVar[int | None] = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if any(s != shapes[0] for s in shapes):
            raise self._fail(f"input shapes {shapes} differ")
        if self.gains is not None:
            if len(self.gains) != len(shapes):
                raise self._fail(f"{len(self.gains)} gains for {len(shapes)} inputs")
            for g in self.gains:
                if g is not None and g.shape not in ((), (shapes[0][0],)):
                    raise self._fail(f"gain shape {g.shape} is not per-channel for {shapes[0]}")
        return shapes[0]

    def synapse_count(self, in_shape: Shape, out_shape: Shape) -> int:
        """With gains, one synapse per element of every input; without, a plain (wired) sum."""
        return int(np.prod(out_shape)) * len(self.inputs) if self.gains is not None else 0


@dataclass(frozen=True, eq=False)
class Concat(Node):
    """Concatenation along the channel (first) dimension, as U-Net skip connections."""

    arity: ClassVar[int | None] = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
            raise self._fail(f"input shapes {shapes} differ beyond the channel dimension")
        return (sum(s[0] for s in shapes), *shapes[0][1:])


@dataclass(frozen=True, eq=False)
class ReLU(Node):
    r"""Rectifier, optionally clipped at ``clip`` and quantised to ``levels`` steps (QCFS):

    .. math::
        y = \frac{\lambda}{L}\,\mathrm{clamp}\!\left(\left\lfloor \frac{x L}{\lambda} + \tfrac12 \right\rfloor, 0, L\right)

    with :math:`\lambda` = ``clip`` and :math:`L` = ``levels``; plain ReLU when both are None,
    clipped ReLU :math:`\min(\max(x, 0), \lambda)` when only ``clip`` is set."""

    clip: float | None = None
    levels: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.clip is not None:
            object.__setattr__(self, "clip", _real(self.clip, f"layer {self.name}.clip"))
        if self.levels is not None and (self.clip is None or self.levels < 1):
            raise InvalidNetworkError(f"layer {self.name} (ReLU): levels={self.levels} needs a clip > 0 and levels ≥ 1")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise InvalidNetworkError(f"layer {self.name} (ReLU): clip={self.clip} must be finite and > 0")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]


@dataclass(frozen=True, eq=False)
class _Membrane(Node):
    """A layer of neurons with a membrane potential (spiking or not): checks shared by their fields."""

    is_neuron: ClassVar[bool] = True
    array_ndim: ClassVar[Mapping[str, tuple[int, ...]]] = {}
    #: Array fields holding one value per layer, per channel or per neuron.
    neuron_arrays: ClassVar[tuple[str, ...]] = ()

    def _unit_fraction(self, field: str, value, *, zero: bool) -> float:
        """``value`` as a float in [0, 1) (``zero``) or in (0, 1]; else the error naming the field."""
        real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        v = float(value) if real else math.nan
        if not (0.0 <= v < 1.0 if zero else 0.0 < v <= 1.0):
            raise InvalidNetworkError(f"layer {self.name} ({type(self).__name__}): {field}={_show(value)} "
                                      f"must be a number in {'[0, 1)' if zero else '(0, 1]'}")
        return v

    def _leaky(self, *fractions: str) -> None:
        """Check the decay factors ``fractions`` (each in (0, 1]: a number, or one per channel or per
        neuron, kept as a number when all equal) and store ``bias`` as a read-only float array
        (scalar, per channel or per neuron)."""
        for f in fractions:
            value = getattr(self, f)
            if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.size > 1 \
                    and np.ptp(value) != 0:
                bad = ~(np.isfinite(value) & (value > 0) & (value <= 1))
                if bad.any():
                    raise InvalidNetworkError(f"layer {self.name} ({type(self).__name__}): {f} has {int(bad.sum())} "
                                              f"of {value.size} values outside (0, 1], e.g. {float(value[bad].flat[0]):g}")
                object.__setattr__(self, f, _frozen(np.asarray(value, np.float64), f"layer {self.name}.{f}"))
                continue
            if isinstance(value, np.ndarray) and value.size >= 1 and value.dtype.kind in "iuf":
                value = value.flat[0]  # uniform: one number
            object.__setattr__(self, f, self._unit_fraction(f, value, zero=False))
        bias = self.bias
        if bias is None or isinstance(bias, (bool, str)) or np.asarray(bias).dtype.kind not in "iuf":
            raise InvalidNetworkError(f"layer {self.name}.bias: {_show(bias)} is not a number or an array of numbers")
        object.__setattr__(self, "bias", _frozen(np.asarray(bias, np.float32), f"layer {self.name}.bias"))

    def output_shape(self, shapes: list[Shape]) -> Shape:
        (s,) = shapes
        for f in self.neuron_arrays:
            shape = np.shape(getattr(self, f))
            if shape not in ((), (s[0],), s):
                raise self._fail(f"{f} shape {shape} is neither scalar, per-channel nor per-neuron for {s}")
        return s


@dataclass(frozen=True, eq=False)
class _Neuron(_Membrane):
    r"""Spiking neurons: ``threshold`` θ > 0, the initial membrane potential ``v_init`` in [0, 1)
    as a fraction of θ (a neuron starting at θ would fire before any input arrives;
    :func:`~spikeforge.convert.normalise.convert` makes 0.5), and the reset: ``v_reset`` None
    resets by subtraction (:math:`v \leftarrow v - \theta`), a number sets the potential to
    ``v_reset``·θ after a spike (any finite fraction of θ).

    ``threshold`` (and ``bias`` of leaky neurons) is a scalar, one value per channel, or one per
    neuron (an array of the layer's full shape). Checked on every construction, so built, loaded
    and hand-edited networks obey the same rules."""

    threshold: np.ndarray = None  # scalar, one per channel or one per neuron
    v_init: float = 0.5  # initial membrane potential, as a fraction of the threshold
    v_reset: float | None = None  # None: reset by subtraction; else the potential after a spike / θ
    spiking: ClassVar[bool] = True
    neuron_arrays: ClassVar[tuple[str, ...]] = ("threshold",)

    def __post_init__(self) -> None:
        if self.threshold is None:
            raise InvalidNetworkError(f"layer {self.name} ({type(self).__name__}): no threshold")
        threshold = np.asarray(self.threshold)
        if threshold.dtype.kind not in "iuf":  # not strings, booleans or objects that float() would take
            raise InvalidNetworkError(f"layer {self.name} ({type(self).__name__}): threshold of dtype "
                                      f"{threshold.dtype} must be numbers")
        object.__setattr__(self, "threshold", threshold.astype(np.float32))
        super().__post_init__()
        if (self.threshold <= 0).any():
            raise InvalidNetworkError(f"layer {self.name} ({type(self).__name__}): thresholds must be > 0, "
                                      f"minimum is {float(self.threshold.min())}")
        object.__setattr__(self, "v_init", self._unit_fraction("v_init", self.v_init, zero=True))
        if self.v_reset is not None:
            object.__setattr__(self, "v_reset", _real(self.v_reset, f"layer {self.name}.v_reset"))


@dataclass(frozen=True, eq=False)
class IF(_Neuron):
    r"""Integrate-and-fire neurons with reset by subtraction and binary spikes.

    .. math::
        v_t = v_{t-1} + I_t, \qquad s_t = [v_t \ge \theta], \qquad v_t \leftarrow v_t - \theta s_t,
        \qquad v_0 = v_\mathrm{init}\,\theta

    At most one spike per neuron per timestep; residual charge carries over (no information lost).
    With ``v_reset`` set, :math:`v_t \leftarrow v_\mathrm{reset}\theta` after a spike instead."""


@dataclass(frozen=True, eq=False)
class LIF(_Neuron):
    r"""Leaky integrate-and-fire neurons with a constant bias current and binary spikes.

    .. math::
        v_t = \beta\, v_{t-1} + I_t + b, \qquad s_t = [v_t \ge \theta], \qquad
        v_t \leftarrow v_t - \theta s_t \ (\text{or } v_\mathrm{reset}\theta \text{ if set})

    with leak factor :math:`\beta` = ``beta`` in (0, 1] (``beta = 1``, ``bias = 0`` is :class:`IF`)
    and ``bias`` :math:`b`, each scalar, per channel or per neuron (NIR's leak towards ``v_leak`` lands
    here as :math:`(\Delta t/\tau)\, v_\mathrm{leak}`)."""

    beta: float | np.ndarray = 1.0
    bias: np.ndarray | float = 0.0
    neuron_arrays: ClassVar[tuple[str, ...]] = ("threshold", "bias", "beta")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._leaky("beta")


@dataclass(frozen=True, eq=False)
class CubaLIF(_Neuron):
    r"""Leaky integrate-and-fire neurons with current-based synapses (as snnTorch's ``Synaptic``).

    .. math::
        i_t = \alpha\, i_{t-1} + I_t, \qquad v_t = \beta\, v_{t-1} + i_t + b, \qquad
        s_t = [v_t \ge \theta], \qquad v_t \leftarrow v_t - \theta s_t \ (\text{or } v_\mathrm{reset}\theta),
        \qquad i_0 = 0

    with synaptic decay :math:`\alpha` = ``alpha`` and membrane leak :math:`\beta` = ``beta``, both
    in (0, 1], and ``bias`` :math:`b` scalar, per channel or per neuron."""

    alpha: float | np.ndarray = 1.0
    beta: float | np.ndarray = 1.0
    bias: np.ndarray | float = 0.0
    neuron_arrays: ClassVar[tuple[str, ...]] = ("threshold", "bias", "alpha", "beta")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._leaky("alpha", "beta")


@dataclass(frozen=True, eq=False)
class Threshold(_Neuron):
    r"""A memoryless threshold (NIR's ``Threshold``): spiking neurons that keep nothing from one step
    to the next.

    .. math::
        s_t = [I_t \ge \theta]

    the neuron kernel's step with no leak memory (:math:`\beta = 0`, a class constant), so its reset
    and initial potential change nothing (both default to 0)."""

    v_init: float = 0.0
    v_reset: float | None = 0.0
    beta: ClassVar[float] = 0.0


@dataclass(frozen=True, eq=False)
class LI(_Membrane):
    r"""Leaky integrators without spikes, a read-out: the output is the membrane potential itself
    (graded), as NIR's ``LI`` (``I`` with :math:`\beta = 1`), Norse's ``LICell`` or sinabs's
    ``ExpLeak``.

    .. math::
        v_t = \beta\, v_{t-1} + I_t + b, \qquad y_t = v_t, \qquad v_0 = 0

    with leak factor :math:`\beta` = ``beta`` in (0, 1] and ``bias`` :math:`b` scalar, per channel
    or per neuron. It sends no spikes, so only a network output may read it (checked by
    :class:`Network`): its neurons map onto hardware as neurons that never fire."""

    beta: float | np.ndarray = 1.0
    bias: np.ndarray | float = 0.0
    neuron_arrays: ClassVar[tuple[str, ...]] = ("bias", "beta")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._leaky("beta")

    @property
    def threshold(self) -> np.ndarray:
        """θ = ∞, not a parameter: a read-out's membrane never reaches a threshold (for code that
        lists every neuron layer's threshold, such as the network table)."""
        return np.float32(np.inf)


@dataclass(frozen=True, eq=False)
class CubaLI(LI):
    r"""Leaky integrators with current-based synapses and without spikes (NIR's ``CubaLI``); the
    output is the membrane potential, as :class:`LI`.

    .. math::
        i_t = \alpha\, i_{t-1} + I_t, \qquad v_t = \beta\, v_{t-1} + i_t + b, \qquad y_t = v_t,
        \qquad i_0 = v_0 = 0

    with synaptic decay :math:`\alpha` = ``alpha`` and membrane leak :math:`\beta` = ``beta``, both in
    (0, 1]."""

    alpha: float | np.ndarray = 1.0
    neuron_arrays: ClassVar[tuple[str, ...]] = ("bias", "alpha", "beta")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._leaky("alpha")


@dataclass(frozen=True, eq=False)
class Delay(Node):
    r"""Delay by ``steps`` ≥ 1 timesteps: :math:`y_t = x_{t - \mathrm{steps}}`, zero for
    :math:`t \le \mathrm{steps}`. Its ``shape`` is declared because its input may be a *later*
    layer: a Delay is the one layer allowed to close a loop (recurrence); the network checks
    that the input's shape equals ``shape``."""

    steps: int = 1
    shape: Shape = ()

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if shapes and shapes[0] != self.shape:
            raise self._fail(f"input shape {shapes[0]} differs from its declared shape {self.shape}")
        return self.shape


def _check_readout(src: Node, reader: Node) -> None:
    """A non-spiking layer (LI, CubaLI) is a read-out: its graded potential leaves the network as
    an output; a layer reading it would need graded events that the mapping and energy stages
    count as no spikes, so it is refused."""
    if src.is_neuron and not src.spiking:
        raise InvalidNetworkError(f"layer {reader.name} ({type(reader).__name__}) reads {src.name} "
                                  f"({type(src).__name__}), a non-spiking read-out: only a network output may")


NODE_TYPES: dict[str, type[Node]] = {
    cls.__name__: cls
    for cls in (Input, Linear, Conv2d, ConvTranspose2d, SparseLinear, AvgPool2d, MaxPool2d, Upsample,
                Flatten, Add, Concat, ReLU, IF, LIF, CubaLIF, Threshold, LI, CubaLI, Delay)
}


@dataclass(frozen=True)
class LayerInfo:
    """One row of :meth:`Network.summary`."""

    name: str
    kind: str
    shape: Shape
    neurons: int
    synapses: int
    parameters: int


@dataclass(frozen=True, eq=False)
class Network:
    """An immutable layer graph. ``nodes`` are in topological order; ``outputs`` name the results.

    Raises
    ------
    InvalidNetworkError
        Duplicate or unknown names, inputs that do not precede their consumer, wrong arity.
    ShapeError
        Connected layers whose shapes do not fit.
    """

    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    name: str = "network"
    _index: Mapping[str, int] = field(init=False, repr=False)
    _shapes: Mapping[str, Shape] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidNetworkError(f"network name {_show(self.name)} is not a string")
        if not isinstance(self.nodes, Iterable) or isinstance(self.nodes, (str, Mapping)):
            raise InvalidNetworkError(f"network {self.name}: nodes {_show(self.nodes)} is not a sequence of layers")
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "outputs", _names(self.outputs, f"network {self.name}: outputs"))
        index: dict[str, int] = {}
        shapes: dict[str, Shape] = {}
        back: list[Delay] = []  # Delays reading a later layer: recurrence, checked at the end
        for i, node in enumerate(self.nodes):
            if not isinstance(node, Node):
                raise InvalidNetworkError(f"network {self.name}: item {i} is {type(node).__name__}, not a Node")
            if node.name in index:
                raise InvalidNetworkError(f"network {self.name}: layer name {node.name!r} is used twice")
            n_in = len(node.inputs)
            if (node.arity is None and n_in < 2) or (node.arity is not None and n_in != node.arity):
                want = "two or more" if node.arity is None else str(node.arity)
                raise InvalidNetworkError(f"layer {node.name} ({type(node).__name__}): {n_in} inputs, needs {want}")
            if isinstance(node, Delay) and node.inputs[0] not in index:
                back.append(node)
                shapes[node.name] = node.shape
                index[node.name] = i
                continue
            for src in node.inputs:
                if src not in index:
                    raise InvalidNetworkError(self._order_error(node, src))
                _check_readout(self.nodes[index[src]], node)
            shapes[node.name] = node.output_shape([shapes[s] for s in node.inputs])
            index[node.name] = i
        for node in back:
            src = node.inputs[0]
            if src not in index:
                raise InvalidNetworkError(f"layer {node.name} (Delay): input {src!r} is not a layer")
            _check_readout(self.nodes[index[src]], node)
            node.output_shape([shapes[src]])
        if not self.outputs:
            raise InvalidNetworkError(f"network {self.name}: no outputs")
        for out in self.outputs:
            if out not in index:
                raise InvalidNetworkError(f"network {self.name}: output {out!r} is not a layer")
        if not any(isinstance(n, Input) for n in self.nodes):
            raise InvalidNetworkError(f"network {self.name}: no Input layer")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_shapes", shapes)

    def _order_error(self, node: Node, src: str) -> str:
        """Why ``node`` may not read ``src`` (not an earlier layer): the cycle it closes without a
        Delay, or the ordering."""
        by_name = {n.name: n for n in self.nodes if isinstance(n, Node)}
        if src not in by_name:
            return f"layer {node.name}: input {src!r} is not an earlier layer"
        # A path src -> ... -> node along inputs reversed means node -> src -> ... -> node.
        path, seen, stack = None, set(), [(src, [src])]
        while stack:
            name, trail = stack.pop()
            if name == node.name:
                path = trail
                break
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            stack.extend((i, [*trail, i]) for i in by_name[name].inputs)
        if path is None or any(isinstance(by_name.get(n), Delay) for n in path):
            return f"layer {node.name}: input {src!r} is not an earlier layer"
        cycle = " → ".join(reversed([*path, src]))  # path runs src … node against the flow
        return f"network {self.name}: cycle {cycle} has no Delay (only a Delay may close a loop)"

    # -- views ---------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        try:
            return self.nodes[self._index[name]]
        except KeyError:
            raise InvalidNetworkError(f"network {self.name}: no layer named {name!r}") from None

    def shape(self, name: str) -> Shape:
        self.node(name)
        return self._shapes[name]

    @property
    def input(self) -> Input:
        """The (first) input layer."""
        return next(n for n in self.nodes if isinstance(n, Input))

    def check_input(self, x, what: str = "input data", timesteps: int | None = None) -> np.ndarray:
        """``x`` as an array of samples for this network's input, shape ``(N, *input shape)``, or
        ``(N, T, *input shape)`` for a temporal input (with ``timesteps`` given, T must equal it).

        Raises
        ------
        InvalidDataError
            Wrong shape, no samples, or values that are not finite numbers (named by ``what``).
        SimulationError
            A temporal input of another number of timesteps than ``timesteps``.
        ResourceError
            Too many samples to hold in memory.
        """
        arr = np.asarray(x)
        shape = self.input.shape
        lead = 2 if self.input.temporal else 1
        if arr.ndim != len(shape) + lead or tuple(arr.shape[lead:]) != shape:
            raise InvalidDataError(f"{what}: shape {tuple(arr.shape)} does not match network input "
                                   f"({'N, T' if lead == 2 else 'N'}, {', '.join(map(str, shape))})")
        if lead == 2 and timesteps is not None and arr.shape[1] != timesteps:
            raise SimulationError(f"{what}: {arr.shape[1]} timesteps of temporal input, the simulation "
                                   f"runs {timesteps}")
        if arr.shape[0] == 0:
            raise InvalidDataError(f"{what}: no samples")
        if arr.dtype.kind not in "fiub":
            raise InvalidDataError(f"{what}: values must be numbers, not {arr.dtype}")
        # The finiteness test and the simulators' float copies each take the array's size again.
        check_memory(arr.size * 8, f"{what}: {arr.shape[0]:,} samples of {shape}")
        bad = int(arr.size - np.isfinite(arr).sum())
        if bad:
            raise InvalidDataError(f"{what}: {bad} values are NaN or Inf")
        return arr

    @property
    def kind(self) -> str:
        """``'snn'`` if any layer is a spiking neuron, else ``'ann'``."""
        return "snn" if any(n.is_neuron for n in self.nodes) else "ann"

    def require_snn(self, where: str) -> None:
        """The one precondition of every stage after conversion: spiking neurons, no ReLU left.

        Raises
        ------
        NotConvertedError
            If the network has no spiking neuron, or still has ReLU layers.
        """
        if self.kind != "snn":
            raise NotConvertedError(f"{where}: network {self.name} has no spiking neurons; convert it first")
        relus = [n.name for n in self.nodes if isinstance(n, ReLU)]
        if relus:
            raise NotConvertedError(f"{where}: network {self.name}: {len(relus)} ReLU layers "
                                    f"({', '.join(relus[:3])}) were not converted to neurons")

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    @property
    def recurrent(self) -> bool:
        """Some layer's output reaches itself again (through a Delay)."""
        return bool(self.loops())

    def loops(self) -> tuple[tuple[str, ...], ...]:
        """The recurrent loops: each strongly connected set of layers that contains a cycle (always
        through a Delay), its names in network order; loops in order of their first layer.

        Examples
        --------
        >>> net = Network((Input("x", (), (2,)), Delay("d", ("n",), shape=(2,)), Add("a", ("x", "d")),
        ...                IF("n", ("a",), threshold=np.float32(1))), ("n",))
        >>> net.loops()
        (('d', 'a', 'n'),)
        """
        cached = self.__dict__.get("_loops")
        if cached is not None:
            return cached
        order = {n.name: i for i, n in enumerate(self.nodes)}
        succ: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                succ[i].append(n.name)
        # Kosaraju: finishing order on the graph, then components on the reversed graph.
        finished, seen = [], set()
        for root in order:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(succ[root]))]
            while stack:
                name, it = stack[-1]
                nxt = next((s for s in it if s not in seen), None)
                if nxt is None:
                    finished.append(name)
                    stack.pop()
                else:
                    seen.add(nxt)
                    stack.append((nxt, iter(succ[nxt])))
        component: dict[str, int] = {}
        groups: list[list[str]] = []
        for root in reversed(finished):
            if root in component:
                continue
            group, stack = [], [root]
            component[root] = len(groups)
            while stack:
                name = stack.pop()
                group.append(name)
                for i in self.nodes[order[name]].inputs:
                    if i not in component:
                        component[i] = len(groups)
                        stack.append(i)
            groups.append(group)
        loops = [tuple(sorted(g, key=order.__getitem__)) for g in groups
                 if len(g) > 1 or g[0] in self.nodes[order[g[0]]].inputs]
        result = tuple(sorted(loops, key=lambda g: order[g[0]]))
        object.__setattr__(self, "_loops", result)
        return result

    def replace_nodes(self, replacements: Mapping[str, Node]) -> Network:
        """A new network with some nodes swapped (same names), re-validated."""
        return dataclasses.replace(self, nodes=tuple(replacements.get(n.name, n) for n in self.nodes))

    def neuron_count(self) -> int:
        return sum(int(np.prod(self._shapes[n.name])) for n in self.nodes if n.is_neuron or isinstance(n, ReLU))

    def synapse_count(self, node: Node) -> int:
        """Exact synapse count of a layer (0 for layers without synapses); see ``Node.synapse_count``."""
        in_shape = self._shapes[node.inputs[0]] if node.inputs else ()
        return node.synapse_count(in_shape, self._shapes[node.name])

    def summary(self) -> list[LayerInfo]:
        rows = []
        for n in self.nodes:
            shape = self._shapes[n.name]
            neurons = int(np.prod(shape)) if (n.is_neuron or isinstance(n, ReLU)) else 0
            params = sum(int(v.size) for f in dataclasses.fields(n)
                         if isinstance(v := getattr(n, f.name), np.ndarray))
            rows.append(LayerInfo(n.name, type(n).__name__, shape, neurons, self.synapse_count(n), params))
        return rows
