"""Model files: a ``torch.save`` of a state dict plus a named architecture, read safely.

A model file is either a dict ``{"architecture": NAME, "options": {...}, "state_dict": {...}}``
or a bare state dict whose architecture is named separately (``--arch``). Files are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikeforge.api import public
from spikeforge.errors import InputPathError, ModelFileError
from spikeforge.models import build_model
from spikeforge.outputs import atomic_file
from spikeforge.resources import check_input_file, check_memory


@public
def save_model(path: str | os.PathLike, model: nn.Module, architecture: str, options: dict[str, Any] | None = None) -> Path:
    """Save ``model``'s state dict with its architecture name and options (atomically)."""
    doc = {"architecture": architecture, "options": options or {}, "state_dict": model.state_dict()}
    return atomic_file(path, lambda f: torch.save(doc, f))


#: Largest model file read (a full-width ResNet-18 is about 45 MB); ``torch.load`` reads it whole,
#: so its size is also checked against the free memory.
MAX_MODEL_BYTES = 16 << 30


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({type(value).__name__})"


def _read(path: Path) -> Any:
    """The object ``torch.load(weights_only=True)`` reads from ``path``, or :class:`ModelFileError`."""
    if not path.exists() and not path.is_symlink():
        raise ModelFileError(f"{path}: no such model file")
    try:
        check_input_file(path, MAX_MODEL_BYTES, "model file")
    except InputPathError as exc:
        raise ModelFileError(str(exc)) from None
    check_memory(path.stat().st_size, f"model file {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:4] != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch zip archive or legacy pickle
        raise ModelFileError(f"{path}: not a PyTorch model file (neither a torch.save archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 209" on a corrupt file
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip().split(" Please")[0] for line in str(exc).splitlines()
                       if "Unsupported" in line), "")
        raise ModelFileError(f"{path}: refused to unpickle: the file holds objects or code, not just tensors "
                             f"(read with weights_only=True){'; ' + reason if reason else ''}") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt archive or pickle makes torch raise nearly anything
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a PyTorch model file, or truncated or corrupt ({reason})") from None


def _check_state(path: Path, state: Any) -> dict[str, torch.Tensor]:
    """``state`` if it is a dict of names to real, finite tensors, else :class:`ModelFileError`."""
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: state dict is {_show(state)}, not a mapping of names to tensors")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelFileError(f"{path}: state dict entries are not all tensors "
                                 f"(entry {_show(key)} is {type(value).__name__})")
        if value.is_complex() or value.dtype == torch.bool:
            raise ModelFileError(f"{path}: state dict entry {key!r} has dtype {value.dtype}, expected real numbers")
        if value.is_floating_point():
            bad = int(value.numel() - torch.isfinite(value).sum())
            if bad:
                raise ModelFileError(f"{path}: state dict entry {key!r}: {bad} of {value.numel()} values are "
                                     f"NaN or Inf")
    return state


@public
def load_model(path: str | os.PathLike, architecture: str | None = None,
               options: Mapping[str, Any] | None = None) -> tuple[nn.Module, tuple[int, ...]]:
    """Load a model file; return the model (eval mode) and its input shape.

    ``architecture`` and ``options`` (e.g. from ``--arch`` and ``--option``) override those the file
    names; options are checked by the architecture (:func:`~spikeforge.models.build_model`).

    Raises
    ------
    ModelFileError
        Missing file, not a regular file or too large, not a torch file (or a truncated or corrupt
        one), a pickle that holds code or objects, no architecture named, an architecture or
        options of the wrong type, unknown, or out of range, state dict entries that are not
        finite real tensors, or weights that do not fit the architecture.
    spikeforge.errors.ResourceError
        The file, or the model its options describe, does not fit in the free memory.
    """
    path = Path(path)
    content = _read(path)
    if not isinstance(content, dict):
        raise ModelFileError(f"{path}: holds a {type(content).__name__}, expected a state dict")
    given = {} if options is None else options
    if not isinstance(given, Mapping):
        raise ModelFileError(f"options {_show(options)}: not a mapping of option names to values")
    if "state_dict" in content:
        stored, stored_options = content.get("architecture"), content.get("options") or {}
        if stored is not None and not isinstance(stored, str):
            raise ModelFileError(f"{path}: architecture is {_show(stored)}, not a name")
        if not isinstance(stored_options, dict):
            raise ModelFileError(f"{path}: options is {_show(stored_options)}, not a mapping of option names to values")
        architecture = architecture or stored
        merged = {**stored_options, **given}
        state = content["state_dict"]
    else:
        merged, state = dict(given), content
    if not architecture:
        raise ModelFileError(f"{path}: a bare state dict; name its architecture (--arch)")
    state = _check_state(path, state)
    bad = next((k for k in merged if not isinstance(k, str)), None)
    if bad is not None:
        raise ModelFileError(f"{path}: option name {_show(bad)} is not a string")
    try:
        model, shape = build_model(architecture, **merged)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        details = "; ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
        raise ModelFileError(f"{path}: weights do not fit architecture {architecture!r}: "
                             f"{details[:600] or str(exc)}") from None
    return model.eval(), shape
