r"""Quantisation-aware fine-tuning (QAT) of a QCFS network, so its quantised SNN keeps the ANN's accuracy.

:func:`qat` fine-tunes a copy of a PyTorch classifier whose activations are QCFS (or ReLUs,
which it swaps for QCFS) with **fake-quantised weights**: in every forward pass each synaptic
weight :math:`w` of output channel :math:`o` is replaced by its symmetric ``bits``-bit value

.. math::
    n = 2^{b-1} - 1, \qquad s_o = \frac{\max_i |w_{o,i}|}{n}, \qquad
    w^q_{o,i} = s_o\,\mathrm{clamp}\!\left(\mathrm{round}(w_{o,i} / s_o),\, -n,\, n\right)

(:math:`-2^{b-1}+1 \le q \le 2^{b-1}-1`, so at most :math:`2^b - 1` distinct values per
channel), and the rounding is bypassed in the backward pass by the straight-through estimator

.. math::
    \frac{\partial \mathcal L}{\partial w_{o,i}} \approx \frac{\partial \mathcal L}{\partial w^q_{o,i}}
    \quad (|w_{o,i}| \le n s_o\text{, always true with this } s_o)

The read-out layer (the last Linear/Conv) uses one step :math:`s` for the whole tensor, as
:func:`~spikeforge.quantize.core.quantize` does for read-outs. The grid survives the
conversion exactly: BatchNorm folding scales whole output channels, QCFS clips are one
scalar per layer, and :func:`~spikeforge.quantize.quantize` (``per_channel=True``) picks the
same step :math:`s_o` for the folded weights, so the integers it finds are the trained
:math:`q` — provided ``threshold_bits`` leaves room for the thresholds (with 8-bit weights
and 8-bit inputs the first layer's threshold is about :math:`2^{15}/\max|w|` input units;
``quantize`` coarsens the step when it does not fit, so use ``threshold_bits=24``). Residual
gains of Add layers are re-quantised by ``quantize`` at ``weight_bits`` and are not trained.

The activations are QCFS with :math:`L` levels (``levels``, default ``timesteps``), the
ANN counterpart of an IF neuron run for :math:`L` steps. With ``spike_epochs > 0`` a final
**spike-domain** phase trains the network as the SNN it converts to: the analog input is
presented for :math:`T` = ``timesteps`` steps and each QCFS layer becomes the neurons the
deployed network runs, stepped by the one neuron kernel
(:func:`~spikeforge.sim.neuron.neuron_step`, as the simulators do) with threshold
:math:`\lambda` (its clip), the initial potential :math:`v_0 = v_\mathrm{init}\lambda` and leak
:math:`\beta` of the converted network (``v_init`` and ``beta``, as given to
:func:`~spikeforge.convert.normalise.convert`), reset by subtraction and **binary** spikes of
value :math:`\lambda` (at most one per neuron per step)

.. math::
    v_t = \beta v_{t-1} + I_t, \qquad s_t = H(v_t - \lambda), \qquad v_t \leftarrow v_t - \lambda s_t,
    \qquad y = \frac1T \sum_t \mathrm{readout}(\lambda s_t)

with the surrogate gradient :math:`H'(u) \approx \max(0, 1 - |u| / \lambda) / \lambda`
(:class:`~spikeforge.sim.neuron.TriangleSurrogate`) and BatchNorm frozen (its statistics are
what conversion folds). It targets the residual "unevenness" error of QCFS at small T (spikes of
one step arriving early or late).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from torch import nn
from torch.nn.utils import parametrize

from spikeforge.api import ArrayLike, public
from spikeforge.datasets import Dataset
from spikeforge.errors import InvalidDataError, QuantizationError
from spikeforge.models.layers import QCFS
from spikeforge.quantize.core import check_bits
from spikeforge.sim.neuron import (
    NeuronParams,
    TriangleSurrogate,
    initial_state,
    neuron_step,
)

__all__ = ["distillation_loss", "fake_quantize", "qat", "quantized_modules", "spiking"]

_SYNAPTIC = (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)


def _grid(weight: torch.Tensor, bits: int, per_channel: bool, transposed_groups: int | None) -> torch.Tensor:
    """:math:`w^q` exactly (no gradient path): the nearest point of the symmetric ``bits``-bit grid."""
    levels = 2 ** (bits - 1) - 1
    mag = weight.detach().abs()
    if not per_channel:
        peak = mag.amax()
    elif transposed_groups is None:
        peak = mag.reshape(mag.shape[0], -1).amax(1).reshape(-1, *([1] * (mag.dim() - 1)))
    else:
        g = transposed_groups
        grouped = mag.reshape(g, mag.shape[0] // g, *mag.shape[1:])  # (g, in/g, out/g, kh, kw)
        peak = grouped.amax(dim=(1, 3, 4), keepdim=True).expand_as(grouped).reshape(mag.shape)
    step = peak / levels
    step = torch.where(step > 0, step, torch.ones_like(step))  # all zero, or so small the step underflows
    return torch.clamp(torch.round(weight.detach() / step), -levels, levels) * step


def fake_quantize(weight: torch.Tensor, bits: int, *, per_channel: bool = True,
                  transposed_groups: int | None = None) -> torch.Tensor:
    r"""Symmetric fake quantisation with a straight-through gradient (see the module docstring).

    Parameters
    ----------
    weight : tensor
        Output channels on axis 0 (Linear, Conv2d), or a ConvTranspose2d weight
        ``(in, out/groups, kh, kw)`` when ``transposed_groups`` is given.
    bits : int
        2..8.
    per_channel : bool
        One step per output channel, else one for the tensor.

    Returns
    -------
    tensor
        :math:`w^q` in the forward pass; the gradient passes to ``weight`` unchanged.

    Examples
    --------
    >>> w = torch.tensor([[0.7, -0.2, 0.05], [0.1, 0.3, -0.3]], requires_grad=True)
    >>> fake_quantize(w, 3).detach().mul(torch.tensor([[3 / 0.7], [3 / 0.3]])).round().tolist()
    [[3.0, -1.0, 0.0], [1.0, 3.0, -3.0]]
    """
    return weight + (_grid(weight, bits, per_channel, transposed_groups) - weight).detach()


class _FakeQuant(nn.Module):
    """Parametrisation: the module's weight is seen through :func:`fake_quantize`."""

    def __init__(self, bits: int, per_channel: bool, transposed_groups: int | None) -> None:
        super().__init__()
        self.bits, self.per_channel, self.transposed_groups = bits, per_channel, transposed_groups

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quantize(weight, self.bits, per_channel=self.per_channel,
                             transposed_groups=self.transposed_groups)


@public
def quantized_modules(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """Synaptic modules (Conv2d, Linear, ConvTranspose2d) as ``(name, module, per_channel)``.

    The last one in module order is taken as the read-out and gets one step per tensor.
    """
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, _SYNAPTIC)]
    return [(name, m, i < len(found) - 1) for i, (name, m) in enumerate(found)]


class _SpikingQCFS(nn.Module):
    """The deployed network's neurons standing in for a QCFS layer on a ``(T·B, ...)`` batch
    (time-major): threshold λ (the clip), ``v_init`` and leak ``beta``; outputs spikes of value λ."""

    def __init__(self, qcfs: QCFS, timesteps: int, v_init: float, beta: float) -> None:
        super().__init__()
        self.qcfs, self.timesteps, self.v_init, self.beta = qcfs, timesteps, v_init, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = NeuronParams(self.qcfs.clip, beta=self.beta, v_init=self.v_init)
        current = x.reshape(self.timesteps, -1, *x.shape[1:])
        state = initial_state(params, current[0])
        out = []
        for t in range(self.timesteps):
            spikes, state = neuron_step(state, current[t], params, surrogate=TriangleSurrogate)
            out.append(spikes * params.threshold)
        return torch.stack(out).reshape(x.shape)


class _TimeSteps(nn.Module):
    """Presents a static input for T steps (stacked on the batch axis) and averages the read-out;
    T cycles through ``schedule``, one value per forward pass."""

    def __init__(self, model: nn.Module, neurons: list[_SpikingQCFS], schedule: tuple[int, ...]) -> None:
        super().__init__()
        self.model, self.neurons, self.schedule, self.calls = model, neurons, schedule, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.schedule[self.calls % len(self.schedule)]
        self.calls += 1
        for n in self.neurons:
            n.timesteps = steps
        out = self.model(x.repeat(steps, *([1] * (x.dim() - 1))))
        return out.reshape(steps, x.shape[0], *out.shape[1:]).mean(0)


@public(own_checks="timesteps v_init beta")
@contextmanager
def spiking(model: nn.Module, timesteps: int | Sequence[int], *, v_init: float = 0.5,
            beta: float = 1.0) -> Iterator[nn.Module]:
    """``model`` run as the SNN it converts to, the network :func:`qat`'s spike-domain phase trains.

    Inside the ``with`` block every QCFS module of ``model`` is swapped for the deployed
    network's neurons (threshold λ = its clip, initial potential ``v_init``·λ, leak ``beta``,
    reset by subtraction, spikes of value λ, surrogate gradients) and BatchNorm is frozen; the
    yielded module presents each input for T steps (stacked on the batch axis, time-major) and
    averages the read-out. T cycles through ``timesteps`` (an int, or a sequence of ints), one
    value per forward pass. ``model`` is restored on exit.

    Raises
    ------
    QuantizationError
        ``timesteps`` not integers in 1..256 (or empty), ``v_init`` not in [0, 1) or ``beta``
        not in (0, 1].

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from spikeforge.models.layers import QCFS
    >>> model = nn.Sequential(nn.Linear(2, 2), QCFS(4, 1.0))
    >>> with spiking(model, 4) as snn:
    ...     type(model[1]).__name__ != "QCFS", tuple(snn(torch.ones(3, 2)).shape)
    (True, (3, 2))
    >>> type(model[1]).__name__
    'QCFS'
    """
    schedule = (timesteps,) if isinstance(timesteps, (int, np.integer)) else tuple(timesteps)
    if not schedule or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= 256
                           for t in schedule):
        raise QuantizationError(f"spiking timesteps={timesteps!r}: must be integers in 1..256")
    if isinstance(v_init, bool) or not (isinstance(v_init, (int, float)) and 0 <= v_init < 1):
        raise QuantizationError(f"spiking v_init={v_init!r}: must be a number in [0, 1)")
    if isinstance(beta, bool) or not (isinstance(beta, (int, float)) and 0 < beta <= 1):
        raise QuantizationError(f"spiking beta={beta!r}: must be a number in (0, 1]")
    schedule = tuple(int(t) for t in schedule)
    swapped: list[tuple[nn.Module, str, QCFS]] = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, QCFS):
                setattr(parent, name, _SpikingQCFS(child, schedule[0], float(v_init), float(beta)))
                swapped.append((parent, name, child))
    try:
        model.train()
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        yield _TimeSteps(model, [getattr(p, n) for p, n, _ in swapped], schedule)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _as_arrays(data: Dataset | tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, Dataset):
        x, y, name = data.x, data.y, data.name or "data"
    elif isinstance(data, tuple) and len(data) == 2:
        x, y, name = np.asarray(data[0]), np.asarray(data[1]), "data"
    else:
        raise InvalidDataError(f"qat data: expected a Dataset or an (x, y) pair, got {type(data).__name__}")
    if y is None:
        raise InvalidDataError(f"qat data {name}: no labels (QAT needs y)")
    if x.ndim < 2 or len(x) == 0:
        raise InvalidDataError(f"qat data {name}: x of shape {x.shape} holds no samples")
    if y.shape != (len(x),):
        raise InvalidDataError(f"qat data {name}: y of shape {y.shape} for {len(x)} samples")
    if x.dtype.kind not in "fiu" or not np.isfinite(x).all():
        raise InvalidDataError(f"qat data {name}: x must be finite numbers (dtype {x.dtype})")
    if y.dtype.kind not in "iu":
        raise InvalidDataError(f"qat data {name}: y has dtype {y.dtype}, expected integer class labels")
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _check_fits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, role: str = "model") -> int:
    """The ``role`` (model or teacher) accepts x's sample shape and has an output per label
    class; returns its number of outputs."""
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2])
    except RuntimeError as exc:
        raise InvalidDataError(f"qat data: samples of shape {tuple(x.shape[1:])} do not fit the {role} "
                               f"({str(exc).splitlines()[0]})") from None
    classes = out.shape[1] if out.dim() > 1 else 1
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= classes:
        raise InvalidDataError(f"qat data: labels span {lo}..{hi} but the {role} has {classes} outputs")
    return classes


def _prepare_activations(model: nn.Module, levels: int, x: torch.Tensor, percentile: float = 99.9) -> int:
    """Set every QCFS to ``levels``; swap every nn.ReLU for a QCFS whose clip λ is the
    ``percentile`` of that ReLU's positive activations on ``x``. Returns the number of activations."""
    relus = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, nn.ReLU)]
    acts: dict[int, torch.Tensor] = {}
    if relus:
        hooks = [child.register_forward_hook(lambda m, _i, out: acts.__setitem__(id(m), out.detach().flatten()))
                 for _, _, child in relus]
        model.eval()
        with torch.no_grad():
            model(x)
        for h in hooks:
            h.remove()
    for parent, name, child in relus:
        values = acts.get(id(child), torch.zeros(0))
        positive = values[values > 0].numpy()
        clip = float(np.percentile(positive, percentile)) if positive.size else 1.0
        setattr(parent, name, QCFS(levels, clip))
    qcfs = [m for m in model.modules() if isinstance(m, QCFS)]
    for m in qcfs:
        m.levels = levels
    return len(qcfs)


def distillation_loss(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor | None,
                      distill: float, temperature: float) -> torch.Tensor:
    r"""The loss of :func:`qat`'s training steps: cross-entropy, mixed with weight ``distill``
    (:math:`\alpha`) with the distillation term :math:`\tau^2\,\mathrm{KL}(p_\mathrm{teacher}^{\tau}
    \,\|\, p^{\tau})` (Hinton et al. 2015, :math:`\tau` = ``temperature``) when ``teacher_logits``
    are given: :math:`(1-\alpha)\,\mathrm{CE} + \alpha\,\tau^2\,\mathrm{KL}`.

    Not decorated with :func:`~spikeforge.api.public`: it runs once per training step.

    Raises
    ------
    InvalidDataError
        ``teacher_logits`` of another shape than ``logits`` (they would broadcast silently).

    Examples
    --------
    >>> import torch
    >>> s, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    >>> ce = distillation_loss(s, y, None, 0.25, 2.0)     # no teacher: plain cross-entropy
    >>> bool(torch.allclose(distillation_loss(s, y, s, 0.25, 2.0), 0.75 * ce))  # agreeing teacher: KL = 0
    True
    """
    ce = F.cross_entropy(logits, y)
    if teacher_logits is None:
        return ce
    if teacher_logits.shape != logits.shape:
        raise InvalidDataError(f"distillation_loss: teacher logits of shape {tuple(teacher_logits.shape)} "
                               f"for logits of shape {tuple(logits.shape)}")
    kl = F.kl_div(F.log_softmax(logits / temperature, 1), F.log_softmax(teacher_logits / temperature, 1),
                  log_target=True, reduction="batchmean")
    return (1 - distill) * ce + distill * temperature ** 2 * kl


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float, lr: float, batch_size: int,
           weight_decay: float, augment: Callable[[torch.Tensor], torch.Tensor] | None,
           rng: np.random.Generator, progress: Progress | None, label: str,
           teacher: nn.Module | None = None, distill: float = 0.5, temperature: float = 2.0) -> None:
    """AdamW with a cosine decay from ``lr`` to 0 over ``epochs`` (fractional epochs allowed);
    with a ``teacher``, its logits on the same batch are distilled into the model (see :func:`distillation_loss`)."""
    per_epoch = -(-len(x) // batch_size)
    steps = max(1, math.ceil(epochs * per_epoch))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    task = progress.add_task(label, total=steps, loss=float("nan")) if progress else None
    step, order = 0, np.empty(0, dtype=np.int64)
    while step < steps:
        if step % per_epoch == 0:
            order = rng.permutation(len(x))
        start = (step % per_epoch) * batch_size
        idx = torch.as_tensor(order[start:start + batch_size])
        xb = x[idx] if augment is None else augment(x[idx])
        if teacher is None:
            target = None
        else:
            with torch.no_grad():
                target = teacher(xb)
        loss = distillation_loss(model(xb), y[idx], target, distill, temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if progress is not None:
            progress.update(task, advance=1, loss=loss.item())


@public(own_checks="bits timesteps levels epochs spike_epochs lr batch_size spike_timesteps distill temperature "
                   "v_init beta")
def qat(model: nn.Module, data: Dataset | tuple[ArrayLike, ArrayLike], *, bits: int = 8, timesteps: int = 4,
        levels: int | None = None, epochs: float = 1.0, spike_epochs: float = 0.0,
        spike_timesteps: Sequence[int] | None = None, v_init: float = 0.5, beta: float = 1.0, lr: float = 3e-4,
        batch_size: int = 128, weight_decay: float = 0.0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None, seed: int = 0,
        teacher: nn.Module | None = None, distill: float = 0.5, temperature: float = 2.0,
        quiet: bool = False) -> nn.Module:
    r"""Quantisation-aware fine-tuning for a ``bits``-bit SNN run for ``timesteps`` steps.

    Works on a deep copy: the caller's ``model`` is not modified. The returned model has the
    same architecture and state-dict keys (QCFS activations in place of any ReLUs) with
    weights **on the quantisation grid** (:math:`w = s_o q`), in eval mode, ready for
    :func:`~spikeforge.frontends.torch_fx.import_torch`, conversion and
    :func:`~spikeforge.quantize.quantize` with ``weight_bits=bits, per_channel=True``.

    Parameters
    ----------
    model : nn.Module
        A classifier with ``nn.ReLU`` modules or :class:`~spikeforge.models.layers.QCFS`
        activations (functional ``F.relu`` calls are invisible to it).
    data : Dataset or (x, y)
        Training inputs (N, ...) and integer labels (N,).
    bits : int
        Weight bit-width, 2..8.
    timesteps : int
        SNN timesteps T the network is tuned for, 1..256.
    levels : int, optional
        QCFS levels L; default ``timesteps``. ReLUs become QCFS with λ at the 99.9th
        percentile of their activations on (up to 1,000 of) the training inputs.
    epochs : float
        Epochs of ANN-domain QAT (fake-quantised weights, QCFS, BatchNorm statistics updated).
    spike_epochs : float
        Epochs of spike-domain QAT at T = ``timesteps`` (binary spikes, surrogate gradients,
        BatchNorm frozen); costs about T× an ANN epoch. 0 skips it.
    spike_timesteps : tuple of int, optional
        T of the spike-domain batches, cycled batch by batch (e.g. ``(4, 8)`` tunes the SNN for
        both); default ``(timesteps,)``.
    v_init : float
        Initial membrane potential of the spike-domain neurons as a fraction of λ, in [0, 1):
        the ``v_init`` the network will be converted with (``convert``'s default, 0.5).
    beta : float
        Leak factor of the spike-domain neurons, in (0, 1]: the converted network's (1: IF).
    lr : float
        Peak AdamW learning rate of each phase (cosine decay to 0).
    batch_size : int
    weight_decay : float
    augment : callable, optional
        Applied to every training batch of inputs (e.g. random crop and flip).
    seed : int
        Seeds the batch order and torch's generator.
    teacher : nn.Module, optional
        A classifier (typically the full-precision ANN) whose logits on each training batch are
        distilled into the spike-domain phase (Hinton et al. 2015): the loss becomes
        :math:`(1-\alpha)\,\mathrm{CE} + \alpha\,\tau^2\,\mathrm{KL}(p_\mathrm{teacher}^{\tau} \| p^{\tau})`.
        It is only run (in eval mode), never trained. The ANN-domain phase always uses plain
        cross-entropy.
    distill : float
        :math:`\alpha`, the weight of the distillation term, in [0, 1].
    temperature : float
        :math:`\tau` > 0, the softmax temperature of the distillation term.
    quiet : bool
        No progress bar.

    Returns
    -------
    nn.Module
        The fine-tuned copy, eval mode, fake-quantised weights baked in.

    Raises
    ------
    QuantizationError
        ``bits``, ``timesteps``, ``levels``, ``epochs``, ``spike_epochs``, ``lr``,
        ``batch_size``, ``spike_timesteps``, ``distill``, ``temperature``, ``v_init`` or ``beta``
        out of range; the model has no ReLU or QCFS activations or no
        Linear/Conv layers.
    InvalidDataError
        No labels, lengths that differ, non-finite inputs, samples that do not fit the model,
        or labels outside its outputs, or a ``teacher`` that does not fit them.

    Examples
    --------
    >>> import torch
    >>> from spikeforge.datasets import digits
    >>> from spikeforge.models import build_model
    >>> model, _ = build_model("digits-cnn")
    >>> tuned = qat(model, digits("train").take(256), bits=4, timesteps=4, epochs=1, quiet=True)
    >>> w = tuned[0].weight                              # first conv: 8 channels × 9 weights
    >>> max(len(torch.unique(c)) for c in w) <= 2**4 - 1
    True
    >>> type(tuned[1]).__name__, type(model[1]).__name__   # the caller's model is untouched
    ('QCFS', 'ReLU')
    """
    bits = check_bits("bits", bits, 2, 8)
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or not 1 <= timesteps <= 256:
        raise QuantizationError(f"qat timesteps={timesteps!r}: must be an integer in 1..256")
    levels = int(timesteps) if levels is None else levels
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or not 1 <= levels <= 256:
        raise QuantizationError(f"qat levels={levels!r}: must be an integer in 1..256")
    for name, value in (("epochs", epochs), ("spike_epochs", spike_epochs)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise QuantizationError(f"qat {name}={value!r}: must be a finite number ≥ 0")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise QuantizationError(f"qat lr={lr!r}: must be a finite number > 0")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise QuantizationError(f"qat batch_size={batch_size!r}: must be an integer ≥ 1")
    schedule = (int(timesteps),) if spike_timesteps is None else tuple(spike_timesteps)
    if not schedule or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= 256
                           for t in schedule):
        raise QuantizationError(f"qat spike_timesteps={spike_timesteps!r}: must be integers in 1..256")
    if not (isinstance(distill, (int, float)) and 0 <= distill <= 1):
        raise QuantizationError(f"qat distill={distill!r}: must be a number in [0, 1]")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise QuantizationError(f"qat temperature={temperature!r}: must be a finite number > 0")
    if isinstance(v_init, bool) or not (isinstance(v_init, (int, float)) and 0 <= v_init < 1):
        raise QuantizationError(f"qat v_init={v_init!r}: must be a number in [0, 1)")
    if isinstance(beta, bool) or not (isinstance(beta, (int, float)) and 0 < beta <= 1):
        raise QuantizationError(f"qat beta={beta!r}: must be a number in (0, 1]")
    x, y = _as_arrays(data)
    model = copy.deepcopy(model)
    layers = quantized_modules(model)
    if not layers:
        raise QuantizationError(f"qat: {type(model).__name__} has no Linear or Conv layers to quantise")
    classes = _check_fits(model, x, y)
    teacher_classes = classes if teacher is None else _check_fits(teacher, x, y, "teacher")  # leaves it in eval mode
    if teacher_classes != classes:
        raise InvalidDataError(f"qat teacher: {teacher_classes} outputs but the model has {classes}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if _prepare_activations(model, int(levels), x[torch.as_tensor(rng.permutation(len(x))[:1000])]) == 0:
        raise QuantizationError(f"qat: {type(model).__name__} has no nn.ReLU or QCFS activations "
                                f"(functional relu calls cannot be swapped)")
    for _, module, per_channel in layers:
        groups = module.groups if isinstance(module, nn.ConvTranspose2d) else None
        parametrize.register_parametrization(module, "weight", _FakeQuant(bits, per_channel, groups))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn())
    options = {"lr": float(lr), "batch_size": int(batch_size), "weight_decay": weight_decay, "augment": augment,
               "rng": rng}
    with Progress(*columns, disable=quiet) as progress:
        bar = None if quiet else progress
        if epochs > 0:
            model.train()
            _train(model, x, y, epochs=epochs, label=f"QAT {bits}-bit, QCFS L={levels}", progress=bar, **options)
        if spike_epochs > 0:
            with spiking(model, schedule, v_init=float(v_init), beta=float(beta)) as snn:
                _train(snn, x, y, epochs=spike_epochs,
                       label=f"spiking QAT {bits}-bit, T={'/'.join(map(str, schedule))}"
                             + (f", distilled (α={distill:g}, τ={temperature:g})" if teacher is not None else ""),
                       progress=bar, teacher=teacher, distill=float(distill), temperature=float(temperature),
                       **options)
    for _, module, per_channel in layers:
        fq = module.parametrizations["weight"][0]
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        with torch.no_grad():  # exactly on the grid (w + (q - w) can differ from q in the last bit)
            module.weight.copy_(_grid(module.weight, bits, per_channel, fq.transposed_groups))
    return model.eval()
