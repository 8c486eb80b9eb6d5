"""Hardware description: a frozen, validated spec of a neuromorphic target.

A :class:`Hardware` value is read from a TOML data file (see :mod:`spikeforge.hardware`)
and validated strictly: unknown or missing fields, wrong types and out-of-range values
raise :class:`~spikeforge.errors.InvalidHardwareSpecError` with a one-line message naming
the source, the dotted field path and the bad value, e.g.
``"myhw.toml: core.crossbar_rows = -4: must be ≥ 1"``.

The model is hierarchical:

* a **core** holds ``crossbars_per_core`` crossbars of ``crossbar_rows`` inputs (axons) by
  ``crossbar_columns`` outputs (neurons), and at most ``neurons_per_core`` neurons;
* a **chip** is a ``mesh_x`` × ``mesh_y`` grid of cores on a network-on-chip (NoC);
* a **board** is a ``mesh_x`` × ``mesh_y`` grid of chip slots holding ``chips`` chips,
  filled row-major, joined by inter-chip links.

Every quantity with a unit carries it in its field name (``hop_latency_ns``,
``per_synop_pj``, ``static_per_core_w``, ``link_bandwidth_spikes_per_s``).

Bounds: counts are integers in 1 .. :data:`MAX_COUNT` (2^31 − 1); the board's crossbars and
neuron slots and a core's synapse memory bits at most :data:`MAX_TOTAL` (2^53); physical
quantities finite and at most :data:`MAX_QUANTITY` (10^30). Whether a board that large can be
*mapped* depends on the memory of the machine: :func:`spikeforge.mapping.place.place` estimates
its arrays before allocating them.

Build a value with :func:`hardware_from_dict` (or load a file with
:func:`spikeforge.hardware.load_hardware`); derive variants with :meth:`Hardware.replace`
and :meth:`Hardware.with_chips`, both of which re-validate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spikeforge.api import public
from spikeforge.errors import InvalidHardwareSpecError
from spikeforge.resources import check_count, check_memory

__all__ = [
    "BoardSpec",
    "ChipSpec",
    "CoreSpec",
    "EnergySpec",
    "Hardware",
    "InterchipSpec",
    "NocSpec",
    "PrecisionSpec",
    "TimingSpec",
    "Topology",
    "board_arrangement",
    "core_coordinates",
    "hardware_from_dict",
]

Topology = Literal["mesh2d", "torus2d"]
"""Supported network topologies: a 2-D mesh, or a 2-D mesh with wrap-around links."""

MAX_COUNT = 2**31 - 1
"""Largest value of a count field (rows, columns, crossbars, neurons, mesh sides, chips, buffer
sizes): a C ``int``, the index type of METIS and KaHyPar."""
MAX_TOTAL = 2**53
"""Largest derived total (crossbars or neuron slots of the board, synapse memory bits of a core):
exact in float64, so ids and sums of the mapper's int64 and float64 arrays never overflow."""
MAX_QUANTITY = 1e30
"""Largest value of a physical quantity (time in ns, energy in pJ, power in W, bandwidth in
spikes/s): far beyond any chip, and small enough that products with event counts and sums over
millions of actors stay finite in float64."""

_Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
_Bits = Annotated[int, Field(ge=1, le=64)]
_NonNeg = Annotated[float, Field(ge=0.0, le=MAX_QUANTITY, allow_inf_nan=False)]
_Positive = Annotated[float, Field(gt=0.0, le=MAX_QUANTITY, allow_inf_nan=False)]


class _FieldRuleError(ValueError):
    """A cross-field rule broken by one field; carries the field so messages can name it."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field} = {value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class CoreSpec(_Section):
    """One neuromorphic core (a tile): crossbars, neuron slots, connectivity limits.

    ``max_*`` limits and ``synapse_memory_bits`` are optional: omit them where the chip has
    no such limit beyond the crossbar geometry.
    """

    crossbar_rows: _Count
    crossbar_columns: _Count
    crossbars_per_core: _Count
    neurons_per_core: _Count
    input_buffer_spikes: _Count
    synapse_memory_bits: _Count | None = None
    max_fan_in_per_neuron: _Count | None = None
    max_fan_out_per_neuron: _Count | None = None
    max_fan_out_per_core: _Count | None = None

    @model_validator(mode="after")
    def _neurons_fit_columns(self) -> CoreSpec:
        columns = self.crossbars_per_core * self.crossbar_columns
        if self.neurons_per_core > columns:
            raise _FieldRuleError(
                "neurons_per_core",
                self.neurons_per_core,
                f"must be ≤ crossbars_per_core × crossbar_columns = {columns}",
            )
        return self


class PrecisionSpec(_Section):
    """Bit-widths of synaptic weights, thresholds and membrane potentials (signed).

    Weights take 1 bit (binary synapses, as Loihi allows) up to 32 (a float32 weight: no
    neuromorphic chip stores wider ones); the membrane register must hold the threshold.
    """

    weight_bits: Annotated[int, Field(ge=1, le=32)]
    threshold_bits: _Bits
    membrane_bits: _Bits

    @model_validator(mode="after")
    def _membrane_holds_threshold(self) -> PrecisionSpec:
        if self.membrane_bits < self.threshold_bits:
            raise _FieldRuleError("membrane_bits", self.membrane_bits,
                                  f"must be ≥ threshold_bits = {self.threshold_bits} (the membrane is compared "
                                  "with the threshold)")
        return self


class ChipSpec(_Section):
    """The 2-D arrangement of cores on one chip: ``mesh_x`` columns by ``mesh_y`` rows."""

    mesh_x: _Count
    mesh_y: _Count


class BoardSpec(_Section):
    """Chips on a board: ``chips`` chips in a ``mesh_x`` × ``mesh_y`` grid, row-major."""

    chips: _Count
    mesh_x: _Count
    mesh_y: _Count

    @model_validator(mode="after")
    def _chips_fit_grid(self) -> BoardSpec:
        slots = self.mesh_x * self.mesh_y
        if self.chips > slots:
            raise _FieldRuleError("chips", self.chips, f"must be ≤ mesh_x × mesh_y = {slots}")
        if self.chips <= slots - self.mesh_x:
            raise _FieldRuleError(
                "chips",
                self.chips,
                f"leaves the last row of the {self.mesh_x} × {self.mesh_y} board empty",
            )
        return self


class NocSpec(_Section):
    """On-chip network: topology, per-hop latency, per-link bandwidth."""

    topology: Topology
    hop_latency_ns: _NonNeg
    link_bandwidth_spikes_per_s: _Positive


class InterchipSpec(_Section):
    """Links between chips on the board: topology, latency and bandwidth per link."""

    topology: Topology
    link_latency_ns: _NonNeg
    link_bandwidth_spikes_per_s: _Positive


class TimingSpec(_Section):
    """Compute times of a core.

    A crossbar activation costs ``crossbar_eval_ns`` plus ``synop_ns`` per synaptic
    operation (0 for fully parallel crossbars); each neuron costs ``neuron_update_ns``.
    ``timestep_ns`` is the global tick of chips that are globally synchronised; omit it
    for self-timed chips. ``timestep_barrier`` says that every core waits for all others at the
    end of each timestep (Loihi's barrier synchronisation, TrueNorth's tick): timesteps do not
    overlap across cores, and a spike sent in timestep *t* is integrated in *t + 1*; the barrier
    itself takes ``barrier_ns``. The dataflow model then closes every iteration with a barrier
    actor (:mod:`spikeforge.dataflow.build`).
    """

    crossbar_eval_ns: _NonNeg
    synop_ns: _NonNeg
    neuron_update_ns: _NonNeg
    timestep_ns: _Positive | None = None
    timestep_barrier: bool = False
    barrier_ns: _NonNeg = 0.0


class EnergySpec(_Section):
    """Energy per event (picojoules) and static power (watts)."""

    per_spike_pj: _NonNeg
    per_synop_pj: _NonNeg
    per_neuron_update_pj: _NonNeg
    per_hop_pj: _NonNeg
    per_interchip_transfer_pj: _NonNeg
    static_per_core_w: _NonNeg
    static_per_chip_w: _NonNeg


class Hardware(_Section):
    """A neuromorphic target: cores, chips, board, networks, timing and energy.

    Immutable and hashable; compare with ``==``. Derive variants with :meth:`replace` and
    :meth:`with_chips`. Construct with :func:`hardware_from_dict` so that invalid input
    raises :class:`~spikeforge.errors.InvalidHardwareSpecError`.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> hw = load_hardware("truenorth")
    >>> hw.cores_per_chip, hw.neurons_per_chip
    (4096, 1048576)
    >>> hw.with_chips(16).board.mesh_x, hw.with_chips(16).total_cores
    (4, 65536)
    """

    name: Annotated[str, Field(min_length=1)]
    description: str
    core: CoreSpec
    precision: PrecisionSpec
    chip: ChipSpec
    board: BoardSpec
    noc: NocSpec
    interchip: InterchipSpec
    timing: TimingSpec
    energy: EnergySpec

    @model_validator(mode="after")
    def _totals_fit(self) -> Hardware:
        """Totals the mapper computes with (ids, sums) must stay below :data:`MAX_TOTAL`."""
        for field, value, total, what in (
                ("board.chips", self.board.chips, self.total_crossbars,
                 "crossbars (chips × cores per chip × crossbars per core)"),
                ("board.chips", self.board.chips, self.total_neurons,
                 "neuron slots (chips × cores per chip × neurons per core)"),
                ("core.crossbar_rows", self.core.crossbar_rows,
                 self.crosspoints_per_core * self.precision.weight_bits,
                 "bits of synapse memory per core (crossbars × rows × columns × weight bits)")):
            if total > MAX_TOTAL:
                raise _FieldRuleError(field, value,
                                      f"gives {total:.3g} {what}, more than 2^53 = {MAX_TOTAL:,}")
        return self

    @property
    def cores_per_chip(self) -> int:
        """Cores on one chip (``chip.mesh_x × chip.mesh_y``)."""
        return self.chip.mesh_x * self.chip.mesh_y

    @property
    def chips(self) -> int:
        """Chips on the board."""
        return self.board.chips

    @property
    def total_cores(self) -> int:
        """Cores on the whole board."""
        return self.cores_per_chip * self.board.chips

    @property
    def crossbars_per_chip(self) -> int:
        """Crossbars on one chip."""
        return self.cores_per_chip * self.core.crossbars_per_core

    @property
    def total_crossbars(self) -> int:
        """Crossbars on the whole board."""
        return self.crossbars_per_chip * self.board.chips

    @property
    def neurons_per_chip(self) -> int:
        """Neuron slots on one chip."""
        return self.cores_per_chip * self.core.neurons_per_core

    @property
    def total_neurons(self) -> int:
        """Neuron slots on the whole board."""
        return self.neurons_per_chip * self.board.chips

    @property
    def crosspoints_per_core(self) -> int:
        """Synapse positions (crosspoints) in the crossbars of one core."""
        return self.core.crossbars_per_core * self.core.crossbar_rows * self.core.crossbar_columns

    @property
    def synapse_memory_bits_per_core(self) -> int:
        """Synaptic weight storage of one core in bits.

        ``core.synapse_memory_bits`` where given, else every crosspoint at ``weight_bits``.
        """
        if self.core.synapse_memory_bits is not None:
            return self.core.synapse_memory_bits
        return self.crosspoints_per_core * self.precision.weight_bits

    def replace(self, **changes: Any) -> Hardware:
        """Return a copy with fields changed, re-validated.

        Keys are top-level fields (``name="x"``), sections given as mappings that are
        merged into the current section (``core={"crossbar_rows": 256}``), or dotted paths
        passed through a dict (``**{"energy.per_hop_pj": 2.0}``).

        Parameters
        ----------
        **changes
            Fields to change.

        Returns
        -------
        Hardware
            The validated copy.

        Raises
        ------
        InvalidHardwareSpecError
            If a key names no field or the result is invalid.

        Examples
        --------
        >>> from spikeforge.hardware import load_hardware
        >>> hw = load_hardware("xbar-mesh").replace(**{"core.crossbar_rows": 256})
        >>> hw.core.crossbar_rows
        256
        """
        data = self.model_dump()
        for key, value in changes.items():
            path = key.split(".")
            if len(path) > 2 or path[0] not in data:
                raise InvalidHardwareSpecError(f"{self.name} (replace): {key}: unknown field")
            target = data
            if len(path) == 2:
                target = data[path[0]]
                if not isinstance(target, dict):
                    raise InvalidHardwareSpecError(f"{self.name} (replace): {key}: unknown field")
            leaf = path[-1]
            if isinstance(value, BaseModel):
                value = value.model_dump()
            elif isinstance(value, np.generic):
                value = value.item()
            if isinstance(target.get(leaf), dict) and isinstance(value, Mapping):
                target[leaf] = {**target[leaf], **value}
            else:
                target[leaf] = value
        return hardware_from_dict(data, source=f"{self.name} (replace)")

    @public(own_checks="chips")
    def with_chips(self, chips: int) -> Hardware:
        """Return a copy with ``chips`` chips on a board arranged by :func:`board_arrangement`.

        Parameters
        ----------
        chips : int
            Number of chips, at least 1.

        Returns
        -------
        Hardware
            The validated copy.

        Raises
        ------
        InvalidHardwareSpecError
            If ``chips`` is not an integer in 1 .. :data:`MAX_COUNT`, or the board's totals
            exceed :data:`MAX_TOTAL`.

        Examples
        --------
        >>> from spikeforge.hardware import load_hardware
        >>> load_hardware("loihi").with_chips(32).board
        BoardSpec(chips=32, mesh_x=4, mesh_y=8)
        """
        check_count(chips, f"{self.name} (with_chips): board.chips", error=InvalidHardwareSpecError)
        chips = int(chips)
        if chips > MAX_COUNT:
            raise InvalidHardwareSpecError(
                f"{self.name} (with_chips): board.chips = {chips}: must be ≤ {MAX_COUNT}")
        mesh_x, mesh_y = board_arrangement(chips)
        return self.replace(board={"chips": chips, "mesh_x": mesh_x, "mesh_y": mesh_y})

    def summary(self) -> str:
        """One line describing the target.

        Examples
        --------
        >>> from spikeforge.hardware import load_hardware
        >>> load_hardware("truenorth").summary()  # doctest: +NORMALIZE_WHITESPACE
        'truenorth: 1 chip × 4096 cores (64×64 mesh2d), 1 crossbar/core of 256×256,
        1,048,576 neurons, 9-bit weights'
        """
        chips = f"{self.board.chips} chip" + ("s" if self.board.chips > 1 else "")
        return (
            f"{self.name}: {chips} × {self.cores_per_chip} cores "
            f"({self.chip.mesh_x}×{self.chip.mesh_y} {self.noc.topology}), "
            f"{self.core.crossbars_per_core} crossbar/core of "
            f"{self.core.crossbar_rows}×{self.core.crossbar_columns}, "
            f"{self.total_neurons:,} neurons, {self.precision.weight_bits}-bit weights"
        )


@public
def board_arrangement(chips: int) -> tuple[int, int]:
    """Board grid ``(mesh_x, mesh_y)`` for ``chips`` chips.

    The most nearly square exact factorisation ``mesh_x × mesh_y = chips`` with
    ``mesh_x ≤ mesh_y``; when that is more than twice as long as wide (e.g. a prime
    number of chips), the near-square grid ``⌈√chips⌉`` columns wide with a partly filled
    last row instead.

    Parameters
    ----------
    chips : int
        Number of chips, at least 1.

    Returns
    -------
    tuple of int
        ``(mesh_x, mesh_y)``.

    Raises
    ------
    InvalidHardwareSpecError
        If ``chips`` < 1 or > :data:`MAX_COUNT` (the factorisation search is O(√chips)).

    Examples
    --------
    >>> board_arrangement(32), board_arrangement(2), board_arrangement(7)
    ((4, 8), (1, 2), (3, 3))
    """
    if chips < 1:
        raise InvalidHardwareSpecError(f"board.chips = {chips}: must be ≥ 1")
    if chips > MAX_COUNT:
        raise InvalidHardwareSpecError(f"board.chips = {chips}: must be ≤ {MAX_COUNT}")
    width = math.isqrt(chips)
    while chips % width:
        width -= 1
    height = chips // width
    if height <= 2 * width:
        return width, height
    width = math.isqrt(chips - 1) + 1
    return width, -(-chips // width)


@public
def core_coordinates(hw: Hardware) -> NDArray[np.int64]:
    """Coordinates ``(chip, x, y)`` of every core, indexed by global core id.

    Global core ``g`` lives on chip ``g // cores_per_chip`` at local id ``l = g % cores_per_chip``,
    column ``l % chip.mesh_x`` and row ``l // chip.mesh_x`` (see :mod:`spikeforge.hardware.geometry`
    for routes and hop counts).

    Parameters
    ----------
    hw : Hardware
        The target.

    Returns
    -------
    numpy.ndarray
        Read-only int64 array of shape ``(hw.total_cores, 3)``.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> core_coordinates(load_hardware("xbar-mesh").with_chips(2))[[0, 5, 16]].tolist()
    [[0, 0, 0], [0, 1, 1], [1, 0, 0]]

    Raises
    ------
    spikeforge.errors.ResourceError
        The array and its temporaries (about 64 bytes per core) do not fit in memory.
    """
    check_memory(hw.total_cores * 64, f"core coordinates of {hw.name}: {hw.total_cores:,} cores")
    ids = np.arange(hw.total_cores, dtype=np.int64)
    chip, local = np.divmod(ids, hw.cores_per_chip)
    coords = np.stack([chip, local % hw.chip.mesh_x, local // hw.chip.mesh_x], axis=1)
    coords.flags.writeable = False
    return coords


@public
def hardware_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Hardware:
    """Validate a mapping (e.g. parsed TOML) into a :class:`Hardware`.

    Parameters
    ----------
    data : Mapping
        Nested mapping with the sections of :class:`Hardware`.
    source : str, optional
        Name of the origin (file name) used in error messages.

    Returns
    -------
    Hardware
        The validated spec.

    Raises
    ------
    InvalidHardwareSpecError
        On any unknown, missing, mistyped or out-of-range field; the one-line message is
        ``"<source>: <dotted.field> = <value>: <reason>"`` for the first problem found.
    """
    try:
        return Hardware.model_validate(data)
    except ValidationError as exc:
        raise InvalidHardwareSpecError(_format_validation_error(exc, source)) from None


_REASONS = {
    "missing": "missing required field",
    "extra_forbidden": "unknown field",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "model_type": "must be a table",
    "finite_number": "must be finite",
}


def _format_validation_error(exc: ValidationError, source: str) -> str:
    """Render the first pydantic error as ``source: path = value: reason (+ n more)``."""
    errors = exc.errors()
    first = errors[0]
    path = [str(part) for part in first["loc"]]
    kind = first["type"]
    ctx = first.get("ctx", {})
    value: object = first.get("input")
    error = ctx.get("error")
    if isinstance(error, _FieldRuleError):
        path.append(error.field)
        value, reason = error.value, error.rule
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op, bound = {
            "greater_than_equal": ("≥", "ge"),
            "greater_than": (">", "gt"),
            "less_than_equal": ("≤", "le"),
            "less_than": ("<", "lt"),
        }[kind]
        reason = f"must be {op} {ctx[bound]}"
    elif kind == "literal_error":
        reason = f"must be one of {ctx['expected']}"
    elif kind == "string_too_short":
        reason = "must not be empty"
    else:
        reason = _REASONS.get(kind, first["msg"])
    dotted = ".".join(path) if path else "(top level)"
    shown = "" if kind == "missing" else f" = {_show(value)}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {dotted}{shown}: {reason}{more}"


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{…}"
    return str(value)
