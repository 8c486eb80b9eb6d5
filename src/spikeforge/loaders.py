"""Loading the network a user names: a saved network folder or a model file.

One function for every command and for the compile pipeline, so that a quantised folder, a
missing path or a bare state dict is treated the same way everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from spikeforge.api import public
from spikeforge.errors import ModelFileError

if TYPE_CHECKING:
    from spikeforge.ir.network import Network
    from spikeforge.quantize import QuantizedNetwork

__all__ = ["load_network"]


@public
def load_network(path: str | os.PathLike, *, arch: str | None = None, options: Mapping[str, object] | None = None,
                 quantized: Literal["refuse", "network", "quantized"] = "refuse", model_file: bool = True) -> Network | QuantizedNetwork:
    """The network a command was given: a saved network folder, a model file imported as an ANN, or
    a NIR graph (``.nir``, :func:`~spikeforge.frontends.nir.read_nir` with its defaults) as an SNN.

    ``quantized`` says what a quantised network folder gives: ``"refuse"`` (an error naming the
    float network it came from), ``"network"`` (its integer :class:`Network`) or ``"quantized"``
    (the :class:`~spikeforge.quantize.QuantizedNetwork`, scales and all). ``model_file=False``
    accepts spiking networks only: folders and NIR graphs, no ANN model file.

    Raises
    ------
    ModelFileError
        No such folder or file, a folder where only folders are accepted, or a quantised
        network where it is refused.
    """
    from spikeforge.ir.serialize import load_metadata
    from spikeforge.ir.serialize import load_network as load_folder

    p = Path(path)
    if p.is_dir():
        meta = load_metadata(p)
        if meta.get("quantized"):
            if quantized == "refuse":
                raise ModelFileError(f"{p}: a quantised network ({meta.get('weight_bits')}-bit weights); give the "
                                     f"float SNN it was quantised from ({meta.get('source', 'unknown')})")
            if quantized == "quantized":
                from spikeforge.quantize import load_quantized

                return load_quantized(p)
        return load_folder(p)
    if p.suffix.lower() == ".nir" and p.is_file():  # a NIR graph: an SNN already (dt 1e-4 s, NIR's reset)
        from spikeforge.frontends.nir import read_nir

        return read_nir(p)
    if not model_file:
        raise ModelFileError(f"{p}: no such network folder or .nir graph (convert a model first: spikeforge convert)")
    if not p.exists():
        raise ModelFileError(f"{p}: no such network folder or model file")
    from spikeforge.frontends.model_file import load_model
    from spikeforge.frontends.torch_fx import import_torch

    module, shape = load_model(p, arch, dict(options or {}))
    return import_torch(module, shape, name=p.stem)
