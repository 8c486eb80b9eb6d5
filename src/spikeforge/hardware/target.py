"""Hardware targets of either kind, by one name: a crossbar chip
(:class:`~spikeforge.ir.hardware.Hardware`) or a PE-array accelerator
(:class:`~spikeforge.hardware.accelerator.AcceleratorSpec`).

Examples
--------
>>> type(load_target("loihi")).__name__, type(load_target("pynq-z2-accel")).__name__
('Hardware', 'AcceleratorSpec')
"""

from __future__ import annotations

import os

from spikeforge.api import public
from spikeforge.hardware.accelerator import AcceleratorSpec, accelerator_from_dict
from spikeforge.hardware.spec import read_spec
from spikeforge.ir.hardware import Hardware, hardware_from_dict

__all__ = ["load_target"]


@public
def load_target(hardware: str | os.PathLike[str] | AcceleratorSpec | Hardware) -> AcceleratorSpec | Hardware:
    """A crossbar chip or an accelerator, by preset name, TOML file or value (returned as is).

    A preset name is looked up among both kinds of preset; a TOML file with a top-level ``pes``
    field is an accelerator, anything else a crossbar chip (see
    :func:`~spikeforge.hardware.spec.read_spec`).

    Raises
    ------
    InvalidHardwareSpecError
        Neither a preset (the message lists those of both kinds) nor a readable, valid TOML file
        of either kind.
    """
    if isinstance(hardware, (AcceleratorSpec, Hardware)):
        return hardware
    spec = read_spec(hardware)
    validate = accelerator_from_dict if spec.kind == "accelerator" else hardware_from_dict
    return validate(spec.document, source=spec.source)
