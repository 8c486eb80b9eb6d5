"""Mesh geometry of a hardware target: core coordinates and hop distances.

Numbering (:func:`~spikeforge.ir.hardware.core_coordinates`)
    Global core id ``g`` lives on chip ``g // cores_per_chip``; within the chip, local id
    ``l = g % cores_per_chip`` sits at column ``x = l % chip.mesh_x`` and row
    ``y = l // chip.mesh_x``. Chips fill the board grid the same way, row-major:
    chip ``c`` sits at board column ``c % board.mesh_x`` and row ``c // board.mesh_x``.

Routing model
    Spikes follow dimension-order (X then Y) routes; the hop count of a route is the
    number of links it traverses, split into on-chip NoC hops and inter-chip hops.

    * Same chip: per axis, ``|Δ|`` hops on a ``mesh2d`` NoC, ``min(|Δ|, n − |Δ|)`` on a
      ``torus2d`` NoC (``n`` cores along that axis).
    * Different chips: chips tile seamlessly, as in Loihi and TrueNorth, whose chip-edge
      links extend the on-chip mesh to neighbouring chips. Along an axis the route runs on
      the global grid formed by all chips' cores; of its links, those that cross a chip
      boundary are inter-chip hops (one per board step, ``|Δchip|``), the rest are NoC hops.
      On a ``torus2d`` board the route takes the wrap-around direction when that crosses
      fewer chips. On-chip torus links are not used by routes that leave the chip.

    .. math::

        h_{\\text{inter}} = \\sum_{a \\in \\{x, y\\}} |\\Delta c_a|, \\qquad
        h_{\\text{noc}} = \\sum_{a \\in \\{x, y\\}} |n_a \\Delta c_a + \\Delta p_a|
                          - h_{\\text{inter}}

    for a mesh board, with ``Δc`` the board offset, ``Δp`` the in-chip offset and ``n``
    the cores per chip along the axis.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikeforge.api import public
from spikeforge.errors import InvalidDataError
from spikeforge.ir.hardware import Hardware

__all__ = ["core_ids", "hop_counts", "hop_distance"]


@public
def core_ids(hw: Hardware, chip: ArrayLike, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """Global core ids of cores given as ``(chip, x, y)``; the inverse of
    :func:`~spikeforge.ir.hardware.core_coordinates`.

    Parameters
    ----------
    hw : Hardware
        The target.
    chip, x, y : array_like of int
        Chip index and in-chip column and row; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        int64 array of global core ids, of the broadcast shape.

    Raises
    ------
    InvalidDataError
        If an input is not integer or a coordinate is out of range.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> core_ids(load_hardware("loihi"), 0, [0, 7], [0, 15]).tolist()
    [0, 127]
    """
    chip_a = _integers(chip, "chip", hw.board.chips)
    x_a = _integers(x, "x", hw.chip.mesh_x)
    y_a = _integers(y, "y", hw.chip.mesh_y)
    return chip_a * hw.cores_per_chip + y_a * hw.chip.mesh_x + x_a


@public
def hop_counts(
    hw: Hardware, core_a: ArrayLike | int, core_b: ArrayLike | int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """On-chip and inter-chip hops of the route from ``core_a`` to ``core_b``.

    See the module docstring for the routing model. Inputs broadcast against each other,
    so one call handles arrays of pairs.

    Parameters
    ----------
    hw : Hardware
        The target.
    core_a, core_b : array_like of int
        Global core ids of the sources and destinations.

    Returns
    -------
    noc_hops, interchip_hops : numpy.ndarray
        int64 arrays of the broadcast shape (0-d for scalar inputs).

    Raises
    ------
    InvalidDataError
        If an id is not an integer or not in ``[0, hw.total_cores)``.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> hw = load_hardware("xbar-mesh").with_chips(2)   # 4×4 cores per chip, 1×2 chips
    >>> noc, inter = hop_counts(hw, 0, [5, 16, 31])
    >>> noc.tolist(), inter.tolist()
    ([2, 3, 9], [0, 1, 1])
    """
    a = _integers(core_a, "core id", hw.total_cores)
    b = _integers(core_b, "core id", hw.total_cores)
    a, b = np.broadcast_arrays(a, b)
    chip_a, local_a = np.divmod(a, hw.cores_per_chip)
    chip_b, local_b = np.divmod(b, hw.cores_per_chip)
    nx, ny = hw.chip.mesh_x, hw.chip.mesh_y
    bx, by = hw.board.mesh_x, hw.board.mesh_y
    noc_torus = hw.noc.topology == "torus2d"
    board_torus = hw.interchip.topology == "torus2d"
    same_chip = chip_a == chip_b
    noc_x, inter_x = _axis_hops(
        chip_a % bx, chip_b % bx, local_a % nx, local_b % nx, nx, bx, same_chip, noc_torus,
        board_torus,
    )
    noc_y, inter_y = _axis_hops(
        chip_a // bx, chip_b // bx, local_a // nx, local_b // nx, ny, by, same_chip, noc_torus,
        board_torus,
    )
    noc = noc_x + noc_y
    return noc.astype(np.int64), (inter_x + inter_y).astype(np.int64)


@public
def hop_distance(hw: Hardware, core_a: ArrayLike, core_b: ArrayLike) -> NDArray[np.int64]:
    """Total links traversed (on-chip plus inter-chip hops) from ``core_a`` to ``core_b``.

    Parameters
    ----------
    hw : Hardware
        The target.
    core_a, core_b : array_like of int
        Global core ids; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        int64 hop counts of the broadcast shape (0-d for scalar inputs).

    Raises
    ------
    InvalidDataError
        If an id is not an integer or not in ``[0, hw.total_cores)``.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> int(hop_distance(load_hardware("loihi"), 0, 127))
    22
    """
    noc, inter = hop_counts(hw, core_a, core_b)
    return noc + inter


def _axis_hops(
    chip_a: NDArray[np.int64],
    chip_b: NDArray[np.int64],
    pos_a: NDArray[np.int64],
    pos_b: NDArray[np.int64],
    cores: int,
    chips: int,
    same_chip: NDArray[np.bool_],
    noc_torus: bool,
    board_torus: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """NoC and inter-chip hops along one axis (board coordinate ``chip_*``, core ``pos_*``)."""
    local = np.abs(pos_b - pos_a)
    if noc_torus:
        local = np.minimum(local, cores - local)
    crossings = np.abs(chip_b - chip_a)
    span = np.abs((chip_b - chip_a) * cores + (pos_b - pos_a))
    if board_torus:
        wrap = chips - crossings < crossings
        span = np.where(wrap, chips * cores - span, span)
        crossings = np.where(wrap, chips - crossings, crossings)
    noc = np.where(same_chip, local, span - crossings)
    return noc, crossings


def _integers(values: ArrayLike, what: str, limit: int) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise InvalidDataError(f"{what}: expected integers, got dtype {array.dtype}")
    bad = (array < 0) | (array >= limit)
    if np.any(bad):
        first = array[bad].flat[0]
        raise InvalidDataError(f"{what} {first} out of range [0, {limit})")
    return array.astype(np.int64)
