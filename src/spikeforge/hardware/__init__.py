"""Hardware targets: spec loading (crossbar chips and accelerators, one reader), presets, mesh
geometry and the energy model."""

from spikeforge.hardware.energy import EnergyBreakdown, estimate_energy
from spikeforge.hardware.geometry import core_ids, hop_counts, hop_distance
from spikeforge.hardware.spec import (
    hardware_table_rows,
    hardware_to_toml,
    list_presets,
    load_hardware,
)
from spikeforge.hardware.target import load_target
from spikeforge.ir.hardware import (
    Hardware,
    board_arrangement,
    core_coordinates,
    hardware_from_dict,
)

__all__ = [
    "EnergyBreakdown",
    "Hardware",
    "board_arrangement",
    "core_coordinates",
    "core_ids",
    "estimate_energy",
    "hardware_from_dict",
    "hardware_table_rows",
    "hardware_to_toml",
    "hop_counts",
    "hop_distance",
    "list_presets",
    "load_hardware",
    "load_target",
]
