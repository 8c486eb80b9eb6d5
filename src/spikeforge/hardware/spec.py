"""Reading, listing, writing and tabulating hardware descriptions.

A hardware description is a TOML file validated into a frozen
:class:`~spikeforge.ir.hardware.Hardware` (a crossbar chip) or
:class:`~spikeforge.hardware.accelerator.AcceleratorSpec` (a PE-array accelerator). Presets ship
in ``spikeforge/hardware/presets`` (accelerators in its ``accelerators`` folder); a user file is
accepted wherever a preset name is. :func:`read_spec` is the one reader of both kinds.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from spikeforge.api import public
from spikeforge.errors import InputPathError, InvalidHardwareSpecError
from spikeforge.ir.hardware import Hardware, hardware_from_dict
from spikeforge.resources import check_input_file

__all__ = ["Kind", "SpecFile", "hardware_table_rows", "hardware_to_toml", "list_presets", "load_hardware", "presets",
           "read_spec"]

_PRESETS = resources.files("spikeforge.hardware") / "presets"

#: Largest hardware file read (the presets are about 2 KB): a larger "TOML file" is refused
#: before it is read, as a device or FIFO is.
MAX_HARDWARE_FILE_BYTES = 1 << 20

# Unit suffixes of field names, longest first, and how to print them.
_UNITS = (
    ("_spikes_per_s", "spikes/s"),
    ("_spikes", "spikes"),
    ("_bits", "bits"),
    ("_ns", "ns"),
    ("_pj", "pJ"),
    ("_w", "W"),
)


Kind = Literal["crossbar", "accelerator"]
"""The two kinds of hardware: a crossbar chip (:class:`Hardware`) or a PE-array accelerator
(:class:`~spikeforge.hardware.accelerator.AcceleratorSpec`)."""

#: Per kind: what its files are called in messages, and the folder of its presets.
_KINDS: dict[str, tuple[str, Any]] = {"crossbar": ("hardware", _PRESETS),
                                       "accelerator": ("accelerator", _PRESETS / "accelerators")}


class SpecFile(NamedTuple):
    """A hardware description read by :func:`read_spec`, not yet validated."""

    kind: Kind
    source: str
    document: dict[str, Any]


@public
def presets(kind: Kind) -> list[str]:
    """Names of the shipped presets of one kind of hardware, sorted.

    Examples
    --------
    >>> presets("crossbar"), presets("accelerator")
    (['loihi', 'truenorth', 'xbar-mesh'], ['pynq-z2-accel'])
    """
    return sorted(p.name[: -len(".toml")] for p in _KINDS[kind][1].iterdir() if p.name.endswith(".toml"))


@public
def list_presets() -> list[str]:
    """Names of the shipped crossbar-chip presets, sorted.

    Returns
    -------
    list of str
        Preset names accepted by :func:`load_hardware`.

    Examples
    --------
    >>> "loihi" in list_presets()
    True
    """
    return presets("crossbar")


@public
def read_spec(name_or_path: str | os.PathLike[str], kind: Kind | None = None) -> SpecFile:
    """The one reader of hardware descriptions: a preset name or a TOML file, of either kind.

    A name (a ``str``) is looked up among the presets of ``kind`` (both kinds when None); anything
    else is read as a file, whose kind, when not given, is told by a top-level ``pes`` field (an
    accelerator has a PE array). The caller validates the document:
    :func:`~spikeforge.ir.hardware.hardware_from_dict` or
    :func:`~spikeforge.hardware.accelerator.accelerator_from_dict`.

    Raises
    ------
    InvalidHardwareSpecError
        Neither a preset (the message lists them) nor an existing regular file; a file larger than
        :data:`MAX_HARDWARE_FILE_BYTES`, unreadable or not valid TOML (see :func:`parse_toml`).

    Examples
    --------
    >>> read_spec("pynq-z2-accel").kind, read_spec("loihi").source
    ('accelerator', 'loihi.toml')
    >>> read_spec("loihi3")
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidHardwareSpecError: loihi3: unknown hardware; not a preset (crossbar chips: loihi, truenorth, xbar-mesh; accelerators: pynq-z2-accel) and no such file
    """
    kinds: tuple[Kind, ...] = ("crossbar", "accelerator") if kind is None else (kind,)
    noun = "hardware" if kind is None else _KINDS[kind][0]
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str):
        for k in kinds:
            if text in presets(k):
                preset = _KINDS[k][1] / f"{text}.toml"
                return SpecFile(k, preset.name, parse_toml(preset.read_text(encoding="utf-8"), source=preset.name))
    path = Path(text)
    if not path.is_file():
        if path.exists():
            raise InvalidHardwareSpecError(f"{text}: not a file")
        if path.suffix or os.sep in text or "/" in text:
            raise InvalidHardwareSpecError(f"{text}: no such {noun} file")
        known = ", ".join(presets(kinds[0])) if kind else \
            f"crossbar chips: {', '.join(presets('crossbar'))}; accelerators: {', '.join(presets('accelerator'))}"
        raise InvalidHardwareSpecError(f"{text}: unknown {noun}; not a preset ({known}) and no such file")
    check_hardware_file(path)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidHardwareSpecError(f"{text}: cannot read {noun} file: {exc}") from None
    document = parse_toml(content, source=text)
    return SpecFile(kind or ("accelerator" if "pes" in document else "crossbar"), text, document)


@public
def load_hardware(name_or_path: str | os.PathLike[str] | Hardware) -> Hardware:
    """Load a crossbar-chip description by preset name or from a TOML file (:func:`read_spec`).

    Parameters
    ----------
    name_or_path : str, path-like or Hardware
        A preset name (see :func:`list_presets`), or a path to a TOML file. A
        :class:`Hardware` value is returned unchanged, so stages can accept either.

    Returns
    -------
    Hardware
        The validated, frozen spec.

    Raises
    ------
    InvalidHardwareSpecError
        If the name is neither a preset nor an existing regular file, the file is larger
        than :data:`MAX_HARDWARE_FILE_BYTES` or unreadable, not valid TOML, or any field is
        unknown, missing, mistyped or out of range. The message names the file, the dotted
        field path and the bad value.

    Examples
    --------
    >>> load_hardware("loihi").core.neurons_per_core
    1024
    """
    if isinstance(name_or_path, Hardware):
        return name_or_path
    spec = read_spec(name_or_path, "crossbar")
    return hardware_from_dict(spec.document, source=spec.source)


def check_hardware_file(path: Path) -> None:
    """Refuse a hardware file that is not a readable regular file of plausible size, before
    reading it (:func:`~spikeforge.resources.check_input_file`, raised as
    :class:`InvalidHardwareSpecError`)."""
    try:
        check_input_file(path, MAX_HARDWARE_FILE_BYTES, "hardware file")
    except InputPathError as exc:
        raise InvalidHardwareSpecError(str(exc)) from None


#: Deepest dotted key or table header read (a hardware file nests two levels): tomllib takes time
#: quadratic in a dotted key's depth (8,000 levels: 1 s; 50,000: about a minute).
MAX_KEY_DEPTH = 16
_KEY_DOT = re.compile(r"(?<![0-9])\.|\.(?![0-9])")


def parse_toml(content: str, *, source: str) -> dict:
    """``content`` parsed as TOML, for a hardware or accelerator file named ``source``.

    Raises
    ------
    InvalidHardwareSpecError
        Not valid TOML, a key or table header nested more than :data:`MAX_KEY_DEPTH` levels
        (refused before parsing), or values nested too deeply to parse (``[[[[...]]]]``).

    Examples
    --------
    >>> parse_toml("[core]\\ncrossbar_rows = 4", source="hw.toml")
    {'core': {'crossbar_rows': 4}}
    >>> parse_toml("a" + ".a" * 50 + " = 1", source="hw.toml")
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidHardwareSpecError: hw.toml: line 1: a key 51 levels deep; keys nest at most 16 levels
    """
    for number, line in enumerate(content.splitlines(), 1):
        key = line.strip()
        key = key[1:key.find("]")] if key.startswith("[") else key.split("=", 1)[0]
        dots = len(_KEY_DOT.findall(key))  # not the decimal points of numbers in an array
        if dots >= MAX_KEY_DEPTH:
            raise InvalidHardwareSpecError(f"{source}: line {number}: a key {dots + 1} levels "
                                           f"deep; keys nest at most {MAX_KEY_DEPTH} levels")
    try:
        return tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidHardwareSpecError(f"{source}: not a valid TOML file: {exc}") from None
    except RecursionError:
        raise InvalidHardwareSpecError(f"{source}: not a valid hardware file (values nested too "
                                       "deeply to parse)") from None


@public
def hardware_to_toml(hw: Hardware) -> str:
    """Write a spec as TOML text that :func:`load_hardware` reads back to an equal value.

    Optional fields that are unset are left out.

    Parameters
    ----------
    hw : Hardware
        The spec to write.

    Returns
    -------
    str
        TOML document.

    Examples
    --------
    >>> import tomllib
    >>> hw = load_hardware("truenorth")
    >>> tomllib.loads(hardware_to_toml(hw))["chip"]
    {'mesh_x': 64, 'mesh_y': 64}
    """
    top: list[str] = []
    tables: list[str] = []
    for key, value in hw.model_dump(exclude_none=True).items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        else:
            top.append(f"{key} = {_toml_value(value)}")
    return "\n".join(top + tables) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, float):
        return repr(value)
    return str(value)


@public
def hardware_table_rows(hw: Hardware) -> list[tuple[str, str]]:
    """Rows ``(field, value with unit)`` describing a spec, for a CLI table.

    Every set field in dotted form, followed by derived totals.

    Parameters
    ----------
    hw : Hardware
        The spec to describe.

    Returns
    -------
    list of tuple of str
        ``(field, value)`` pairs, e.g. ``("noc.hop_latency_ns", "5.3 ns")``.

    Examples
    --------
    >>> rows = dict(hardware_table_rows(load_hardware("loihi")))
    >>> rows["energy.per_synop_pj"], rows["total cores"]
    ('23.6 pJ', '128')
    """
    rows: list[tuple[str, str]] = []
    for key, value in hw.model_dump(exclude_none=True).items():
        if isinstance(value, dict):
            rows.extend((f"{key}.{k}", _with_unit(k, v)) for k, v in value.items())
        else:
            rows.append((key, str(value)))
    rows += [
        ("cores per chip", f"{hw.cores_per_chip:,}"),
        ("total cores", f"{hw.total_cores:,}"),
        ("total crossbars", f"{hw.total_crossbars:,}"),
        ("neurons per chip", f"{hw.neurons_per_chip:,}"),
        ("total neurons", f"{hw.total_neurons:,}"),
        ("synapse memory per core", f"{hw.synapse_memory_bits_per_core:,} bits"),
    ]
    return rows


def _with_unit(field: str, value: object) -> str:
    if isinstance(value, int):
        shown = f"{value:,}"
    elif isinstance(value, float):
        shown = f"{value:g}"
    else:
        shown = str(value)
    for suffix, unit in _UNITS:
        if field.endswith(suffix):
            return f"{shown} {unit}"
    return shown
