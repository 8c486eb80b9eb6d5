"""Model files: a ``torch.save`` of a state dict plus a named architecture, read safely.

A model file is either a dict ``{"architecture": NAME, "options": {...}, "state_dict": {...}}``
or a bare state dict whose architecture is named separately (``--arch``). Files are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikeforge.api import public
from spikeforge.errors import ModelFileError
from spikeforge.models import build_model
from spikeforge.outputs import atomic_file


@public
def save_model(path: str | os.PathLike, model: nn.Module, architecture: str, options: dict[str, Any] | None = None) -> Path:
    """Save ``model``'s state dict with its architecture name and options (atomically)."""
    doc = {"architecture": architecture, "options": options or {}, "state_dict": model.state_dict()}
    return atomic_file(path, lambda f: torch.save(doc, f))


@public
def load_model(path: str | os.PathLike, architecture: str | None = None,
               options: dict[str, Any] | None = None) -> tuple[nn.Module, tuple[int, ...]]:
    """Load a model file; return the model (eval mode) and its input shape.

    Raises
    ------
    ModelFileError
        Missing file, not a torch file, a pickle that holds code or objects, no architecture
        named, or weights that do not fit the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:4] != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch zip archive or legacy pickle
        raise ModelFileError(f"{path}: not a PyTorch model file (neither a torch.save archive nor a pickle)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip().split(" Please")[0] for line in str(exc).splitlines()
                       if "Unsupported" in line), "")
        raise ModelFileError(f"{path}: refused to unpickle: the file holds objects or code, not just tensors "
                             f"(read with weights_only=True){'; ' + reason if reason else ''}") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a PyTorch model file ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if not isinstance(content, dict):
        raise ModelFileError(f"{path}: holds a {type(content).__name__}, expected a state dict")
    if "state_dict" in content:
        architecture = architecture or content.get("architecture")
        options = {**content.get("options", {}), **(options or {})}
        state = content["state_dict"]
    else:
        state = content
    if not architecture:
        raise ModelFileError(f"{path}: a bare state dict; name its architecture (--arch)")
    model, shape = build_model(architecture, **(options or {}))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: state dict entries are not all tensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        details = "; ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
        raise ModelFileError(f"{path}: weights do not fit architecture {architecture!r}: "
                             f"{details[:600] or str(exc)}") from None
    return model.eval(), shape
