"""Hardware specs: presets, TOML loading and round trips, validation errors, derivations."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spikeforge.hardware.energy
import spikeforge.hardware.geometry
import spikeforge.hardware.spec
import spikeforge.ir.hardware
from spikeforge.errors import InvalidHardwareSpecError
from spikeforge.hardware import (
    Hardware,
    board_arrangement,
    hardware_from_dict,
    hardware_table_rows,
    hardware_to_toml,
    list_presets,
    load_hardware,
)

PRESETS = ["loihi", "truenorth", "xbar-mesh"]


def write(tmp_path: Path, text: str, name: str = "myhw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def loihi_text() -> str:
    return hardware_to_toml(load_hardware("loihi"))


def edited(old: str, new: str) -> str:
    text = loihi_text()
    assert old in text
    return text.replace(old, new, 1)


# --- presets and round trips -------------------------------------------------------------


def test_list_presets_has_the_shipped_targets() -> None:
    assert set(PRESETS) <= set(list_presets())
    assert list_presets() == sorted(list_presets())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_round_trips_through_toml(name: str, tmp_path: Path) -> None:
    hw = load_hardware(name)
    assert isinstance(hw, Hardware)
    assert hw.name == name
    again = load_hardware(write(tmp_path, hardware_to_toml(hw)))
    assert again == hw
    assert hash(again) == hash(hw)
    assert hardware_from_dict(hw.model_dump()) == hw


@pytest.mark.parametrize("name", PRESETS)
def test_preset_numbers_carry_comments(name: str) -> None:
    presets = Path(spikeforge.hardware.spec.__file__).parent / "presets"
    text = (presets / f"{name}.toml").read_text(encoding="utf-8")
    assert text.count("#") > 20  # sources are cited in comments


def test_user_toml_works_where_a_preset_name_does(tmp_path: Path) -> None:
    path = write(tmp_path, edited('name = "loihi"', 'name = "my-loihi"'))
    for spec in (path, str(path)):
        hw = load_hardware(spec)
        assert hw.name == "my-loihi"
        assert hw.replace(name="loihi") == load_hardware("loihi")
        assert hw.with_chips(2).total_cores == 256


def test_load_hardware_passes_a_hardware_value_through() -> None:
    hw = load_hardware("truenorth")
    assert load_hardware(hw) is hw


def test_hardware_is_frozen() -> None:
    hw = load_hardware("loihi")
    with pytest.raises(pydantic.ValidationError):
        hw.name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        hw.core.crossbar_rows = 1  # type: ignore[misc]


# --- derived properties ------------------------------------------------------------------


def test_loihi_derived_properties() -> None:
    hw = load_hardware("loihi")
    assert hw.cores_per_chip == 128
    assert hw.total_cores == 128
    assert hw.total_crossbars == 128
    assert hw.neurons_per_chip == 131_072
    assert hw.synapse_memory_bits_per_core == 1_048_576
    assert hw.timing.timestep_ns is None


def test_truenorth_derived_properties() -> None:
    hw = load_hardware("truenorth")
    assert hw.cores_per_chip == 4096
    assert hw.neurons_per_chip == 1_048_576
    assert hw.crosspoints_per_core == 65_536
    assert hw.core.max_fan_out_per_neuron == 1
    assert hw.timing.timestep_ns == 1e6


def test_synapse_memory_defaults_to_crosspoints_times_weight_bits() -> None:
    hw = load_hardware("xbar-mesh")
    assert hw.core.synapse_memory_bits is None
    assert hw.synapse_memory_bits_per_core == 128 * 128 * 8


def test_with_chips_scales_totals_and_derives_the_board() -> None:
    hw = load_hardware("truenorth").with_chips(16)
    assert (hw.board.chips, hw.board.mesh_x, hw.board.mesh_y) == (16, 4, 4)
    assert hw.total_cores == 16 * 4096
    assert hw.total_neurons == 16 * 1_048_576
    loihi = load_hardware("loihi")
    assert loihi.with_chips(32).board.model_dump() == {"chips": 32, "mesh_x": 4, "mesh_y": 8}
    assert loihi.with_chips(32).with_chips(1) == loihi
    assert loihi.with_chips(np.int64(2)) == loihi.with_chips(2)


@pytest.mark.parametrize("chips", [0, -2, 1.5, True])
def test_with_chips_rejects_bad_counts(chips: object) -> None:
    with pytest.raises(InvalidHardwareSpecError, match=r"board\.chips"):
        load_hardware("loihi").with_chips(chips)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=5000))
def test_board_arrangement_fits_and_is_near_square(chips: int) -> None:
    x, y = board_arrangement(chips)
    assert chips <= x * y < chips + x  # fits, and the last row is not empty
    assert max(x, y) <= 2 * min(x, y)


def test_replace_revalidates_and_accepts_dotted_paths() -> None:
    hw = load_hardware("xbar-mesh")
    bigger = hw.replace(**{"core.crossbar_rows": 256}, core={"crossbar_columns": 256})
    assert (bigger.core.crossbar_rows, bigger.core.crossbar_columns) == (256, 256)
    assert bigger.core.neurons_per_core == hw.core.neurons_per_core
    assert hw.core.crossbar_rows == 128  # the original is unchanged
    assert hw.replace(**{"energy.per_hop_pj": np.float32(2.5), "chip.mesh_x": np.int64(2)}) == (
        hw.replace(**{"energy.per_hop_pj": 2.5, "chip.mesh_x": 2})
    )
    with pytest.raises(InvalidHardwareSpecError, match=r"core\.crossbar_rows = 0: must be ≥ 1"):
        hw.replace(**{"core.crossbar_rows": 0})
    with pytest.raises(InvalidHardwareSpecError, match=r"core\.crossbar_depth = 2: unknown field"):
        hw.replace(**{"core.crossbar_depth": 2})
    with pytest.raises(InvalidHardwareSpecError, match=r"cooling: unknown field"):
        hw.replace(cooling="water")


def test_table_rows_carry_units() -> None:
    rows = dict(hardware_table_rows(load_hardware("loihi")))
    assert rows["noc.hop_latency_ns"] == "5.3 ns"
    assert rows["energy.per_synop_pj"] == "23.6 pJ"
    assert rows["energy.static_per_core_w"].endswith(" W")
    assert rows["precision.weight_bits"] == "8 bits"
    assert rows["noc.link_bandwidth_spikes_per_s"].endswith(" spikes/s")
    assert rows["total neurons"] == "131,072"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in rows.items())


def test_summary_is_one_line() -> None:
    for name in PRESETS:
        summary = load_hardware(name).summary()
        assert summary.startswith(name) and "\n" not in summary


# --- invalid specs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "crossbar_rows = 4096",
            "crossbar_rows = 4096\ncrossbar_depth = 3",
            r"core\.crossbar_depth = 3: unknown field",
        ),
        ("[energy]", "[cooling]\nfans = 2\n\n[energy]", r"cooling = \{…\}: unknown field"),
        ("crossbar_columns = 1024\n", "", r"core\.crossbar_columns: missing required field"),
        ('name = "loihi"\n', "", r"myhw\.toml: name: missing required field"),
        ("crossbar_rows = 4096", "crossbar_rows = -4", r"core\.crossbar_rows = -4: must be ≥ 1"),
        ("per_hop_pj = 3.5", "per_hop_pj = -0.5", r"energy\.per_hop_pj = -0\.5: must be ≥ 0"),
        ("per_hop_pj = 3.5", "per_hop_pj = nan", r"energy\.per_hop_pj = nan"),
        ("per_hop_pj = 3.5", "per_hop_pj = inf", r"energy\.per_hop_pj = inf: must be finite"),
        ("weight_bits = 8", "weight_bits = 40", r"precision\.weight_bits = 40: must be ≤ 32"),
        ("weight_bits = 8", "weight_bits = 0", r"precision\.weight_bits = 0: must be ≥ 1"),
        (
            "membrane_bits = 24",
            "membrane_bits = 12",
            r"precision\.membrane_bits = 12: must be ≥ threshold_bits = 17",
        ),
        (
            "weight_bits = 8",
            'weight_bits = "8"',
            r"precision\.weight_bits = '8': must be an integer",
        ),
        (
            "crossbar_rows = 4096",
            "crossbar_rows = 4096.0",
            r"core\.crossbar_rows = 4096\.0: must be an integer",
        ),
        ("mesh_x = 8", "mesh_x = true", r"chip\.mesh_x = true: must be an integer"),
        (
            "per_synop_pj = 23.6",
            'per_synop_pj = "23.6"',
            r"energy\.per_synop_pj = '23\.6': must be a number",
        ),
        (
            'topology = "mesh2d"',
            'topology = "ring"',
            r"noc\.topology = 'ring': must be one of 'mesh2d' or 'torus2d'",
        ),
        (
            "neurons_per_core = 1024",
            "neurons_per_core = 2048",
            (r"core\.neurons_per_core = 2048: "
             r"must be ≤ crossbars_per_core × crossbar_columns = 1024"),
        ),
        (
            "[board]\nchips = 1",
            "[board]\nchips = 3",
            r"board\.chips = 3: must be ≤ mesh_x × mesh_y = 1",
        ),
    ],
)
def test_invalid_field_names_file_field_and_value(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, edited(old, new))
    with pytest.raises(InvalidHardwareSpecError, match=message) as info:
        load_hardware(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert "\n" not in text


def test_section_given_as_a_value(tmp_path: Path) -> None:
    text = loihi_text()
    start = text.index("[precision]")
    text = text[:start] + text[text.index("[chip]") :]
    text = text.replace("\n[core]", "precision = 8\n\n[core]", 1)
    message = r"myhw\.toml: precision = 8: must be a table"
    with pytest.raises(InvalidHardwareSpecError, match=message):
        load_hardware(write(tmp_path, text))


def test_board_with_an_empty_last_row_is_rejected(tmp_path: Path) -> None:
    board = "[board]\nchips = {}\nmesh_x = {}\nmesh_y = {}"
    path = write(tmp_path, edited(board.format(1, 1, 1), board.format(2, 2, 2)))
    with pytest.raises(InvalidHardwareSpecError, match=r"board\.chips = 2: leaves the last row"):
        load_hardware(path)


def test_several_errors_are_counted_on_one_line(tmp_path: Path) -> None:
    text = edited("crossbar_rows = 4096", "crossbar_rows = -1").replace("mesh_x = 8", "mesh_x = 0")
    with pytest.raises(InvalidHardwareSpecError, match=r"\(and 1 more\)$"):
        load_hardware(write(tmp_path, text))


def test_not_a_toml_file(tmp_path: Path) -> None:
    path = write(tmp_path, "this is [not toml\n", name="broken.toml")
    with pytest.raises(InvalidHardwareSpecError, match=r"broken\.toml: not a valid TOML file"):
        load_hardware(path)


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "blob.toml"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InvalidHardwareSpecError, match=r"blob\.toml"):
        load_hardware(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    message = re.escape(f"{path}: no such hardware file")
    with pytest.raises(InvalidHardwareSpecError, match=message):
        load_hardware(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidHardwareSpecError, match="not a file"):
        load_hardware(tmp_path)


def test_unknown_preset_name_lists_the_presets() -> None:
    with pytest.raises(InvalidHardwareSpecError, match=r"loihi3: unknown hardware.*truenorth"):
        load_hardware("loihi3")


def test_one_reader_for_both_kinds_names_the_presets_of_the_kinds_asked_for(tmp_path: Path) -> None:
    from spikeforge.hardware import load_target
    from spikeforge.hardware.accelerator import AcceleratorSpec, load_accelerator
    from spikeforge.hardware.spec import read_spec

    with pytest.raises(InvalidHardwareSpecError, match=r"^loihi: unknown accelerator; not a preset \(pynq-z2-accel\)"):
        load_accelerator("loihi")
    with pytest.raises(InvalidHardwareSpecError, match=r"^pynq-z2-accel: unknown hardware; not a preset \(loihi, "):
        load_hardware("pynq-z2-accel")
    with pytest.raises(InvalidHardwareSpecError, match=r"^x: unknown hardware; not a preset \(crossbar chips: loihi, "
                                                       r"truenorth, xbar-mesh; accelerators: pynq-z2-accel\)"):
        load_target("x")
    with pytest.raises(InvalidHardwareSpecError, match=r"acc\.toml: no such accelerator file"):
        load_accelerator(tmp_path / "acc.toml")
    # a file's kind is told by a top-level pes (read only; the loaders validate)
    assert read_spec(write(tmp_path, 'name = "a"\npes = 2\n', "a.toml")).kind == "accelerator"
    assert read_spec(write(tmp_path, loihi_text())).kind == "crossbar"
    assert isinstance(load_target("pynq-z2-accel"), AcceleratorSpec) and load_target("loihi") == load_hardware("loihi")


def test_hardware_from_dict_names_its_source() -> None:
    data = load_hardware("loihi").model_dump()
    data["timing"] = {**data["timing"], "timestep_ns": 0.0}
    message = r"^sweep: timing\.timestep_ns = 0\.0: must be > 0"
    with pytest.raises(InvalidHardwareSpecError, match=message):
        hardware_from_dict(data, source="sweep")


@pytest.mark.parametrize(
    "module",
    [
        spikeforge.ir.hardware,
        spikeforge.hardware.spec,
        spikeforge.hardware.geometry,
        spikeforge.hardware.energy,
    ],
)
def test_docstring_examples(module: object) -> None:
    flags = doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)  # type: ignore[arg-type]
    assert result.failed == 0
    assert result.attempted > 0
