"""Mesh geometry: core coordinates, ids and hop distances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import InvalidDataError
from spikeforge.hardware import (
    core_coordinates,
    core_ids,
    hop_counts,
    hop_distance,
    load_hardware,
)


def test_coordinates_cover_every_core_once_and_are_read_only() -> None:
    hw = load_hardware("xbar-mesh").with_chips(6)  # 4×4 cores per chip, 2×3 board
    coords = core_coordinates(hw)
    assert coords.shape == (hw.total_cores, 3)
    assert len({tuple(row) for row in coords.tolist()}) == hw.total_cores
    assert coords[:, 0].max() == 5 and coords[:, 1].max() == 3 and coords[:, 2].max() == 3
    assert not coords.flags.writeable
    ids = core_ids(hw, coords[:, 0], coords[:, 1], coords[:, 2])
    np.testing.assert_array_equal(ids, np.arange(hw.total_cores))


def test_same_chip_distance_is_manhattan() -> None:
    hw = load_hardware("loihi")  # 8 × 16 cores
    assert int(hop_distance(hw, 0, 0)) == 0
    assert int(hop_distance(hw, 0, 127)) == 7 + 15
    assert int(hop_distance(hw, 9, 2)) == 1 + 1  # (1, 1) -> (2, 0)
    noc, inter = hop_counts(hw, 0, 127)
    assert (int(noc), int(inter)) == (22, 0)


def test_vectorised_pairs_broadcast() -> None:
    hw = load_hardware("loihi")
    a = np.array([0, 0, 127])
    b = np.array([1, 8, 0])
    np.testing.assert_array_equal(hop_distance(hw, a, b), [1, 1, 22])
    matrix = hop_distance(hw, np.arange(128)[:, None], np.arange(128)[None, :])
    assert matrix.shape == (128, 128)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert np.all(np.diag(matrix) == 0)


def global_grid(hw, core):  # type: ignore[no-untyped-def]
    chip, x, y = core_coordinates(hw)[core]
    gx = (chip % hw.board.mesh_x) * hw.chip.mesh_x + x
    gy = (chip // hw.board.mesh_x) * hw.chip.mesh_y + y
    return gx, gy


@settings(max_examples=60)
@given(
    chips=st.integers(min_value=1, max_value=12),
    a=st.integers(min_value=0, max_value=10**6),
    b=st.integers(min_value=0, max_value=10**6),
)
def test_mesh_boards_tile_seamlessly(chips: int, a: int, b: int) -> None:
    hw = load_hardware("xbar-mesh").with_chips(chips)
    a, b = a % hw.total_cores, b % hw.total_cores
    (ax, ay), (bx, by) = global_grid(hw, a), global_grid(hw, b)
    noc, inter = hop_counts(hw, a, b)
    coords = core_coordinates(hw)
    ca, cb = coords[a, 0], coords[b, 0]
    board_dist = abs(ca % hw.board.mesh_x - cb % hw.board.mesh_x) + abs(
        ca // hw.board.mesh_x - cb // hw.board.mesh_x
    )
    assert int(inter) == board_dist
    assert int(noc) + int(inter) == abs(ax - bx) + abs(ay - by)
    assert int(hop_distance(hw, a, b)) == int(hop_distance(hw, b, a))


def test_chip_boundary_crossing_counts_one_interchip_hop() -> None:
    hw = load_hardware("xbar-mesh").with_chips(2)  # board 1 × 2: chips stacked along y
    last_row_chip0 = core_ids(hw, 0, 2, 3)
    first_row_chip1 = core_ids(hw, 1, 2, 0)
    noc, inter = hop_counts(hw, last_row_chip0, first_row_chip1)
    assert (int(noc), int(inter)) == (0, 1)


def test_torus_noc_wraps_within_a_chip() -> None:
    hw = load_hardware("xbar-mesh").replace(**{"noc.topology": "torus2d"})
    assert int(hop_distance(hw, 0, 3)) == 1  # x: 0 -> 3 wraps
    assert int(hop_distance(hw, 0, 15)) == 2  # (0, 0) -> (3, 3)
    assert int(hop_distance(hw, 0, 10)) == 4  # (0, 0) -> (2, 2): no shortcut


def test_torus_board_wraps_between_chips() -> None:
    hw = load_hardware("xbar-mesh").replace(
        board={"chips": 4, "mesh_x": 4, "mesh_y": 1}, **{"interchip.topology": "torus2d"}
    )
    a = core_ids(hw, 0, 0, 0)
    b = core_ids(hw, 3, 3, 0)
    noc, inter = hop_counts(hw, a, b)
    assert (int(noc), int(inter)) == (0, 1)  # west across the wrap-around link
    mesh = hw.replace(**{"interchip.topology": "mesh2d"})
    noc, inter = hop_counts(mesh, a, b)
    assert (int(noc), int(inter)) == (12, 3)


def test_out_of_range_core_id_is_named() -> None:
    hw = load_hardware("loihi")
    with pytest.raises(InvalidDataError, match=r"core id 128 out of range \[0, 128\)"):
        hop_distance(hw, [0, 1], [2, 128])
    with pytest.raises(InvalidDataError, match=r"core id -1 out of range"):
        hop_counts(hw, -1, 0)


def test_non_integer_core_ids_are_rejected() -> None:
    hw = load_hardware("loihi")
    with pytest.raises(InvalidDataError, match="expected integers"):
        hop_distance(hw, 1.0, 2)
    with pytest.raises(InvalidDataError, match="expected integers"):
        hop_distance(hw, True, 2)
    with pytest.raises(InvalidDataError, match=r"x 8 out of range \[0, 8\)"):
        core_ids(hw, 0, 8, 0)
