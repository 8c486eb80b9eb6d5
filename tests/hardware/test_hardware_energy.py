"""Energy model: hand-computed values, static-only energy, monotonicity and additivity."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import InvalidDataError
from spikeforge.hardware import Hardware, estimate_energy, load_hardware

COUNTS = ("spikes", "synops", "neuron_updates", "hops", "interchip_transfers")


def round_numbers() -> Hardware:
    return (
        load_hardware("xbar-mesh")
        .with_chips(2)
        .replace(
            energy={
                "per_spike_pj": 1.0,
                "per_synop_pj": 2.0,
                "per_neuron_update_pj": 3.0,
                "per_hop_pj": 4.0,
                "per_interchip_transfer_pj": 5.0,
                "static_per_core_w": 0.5,
                "static_per_chip_w": 2.0,
            }
        )
    )


def energy(hw: Hardware, **overrides: float):  # type: ignore[no-untyped-def]
    args = dict.fromkeys(COUNTS, 0.0) | {"time_s": 0.0, "cores_used": 1, "chips_used": 1}
    return estimate_energy(hw, **(args | overrides))  # type: ignore[arg-type]


def test_hand_computed_case() -> None:
    e = energy(
        round_numbers(),
        spikes=10,
        synops=100,
        neuron_updates=1000,
        hops=10_000,
        interchip_transfers=100_000,
        time_s=0.25,
        cores_used=3,
        chips_used=2,
    )
    assert e.spikes_j == pytest.approx(10e-12)
    assert e.synops_j == pytest.approx(200e-12)
    assert e.neuron_updates_j == pytest.approx(3000e-12)
    assert e.hops_j == pytest.approx(40_000e-12)
    assert e.interchip_j == pytest.approx(500_000e-12)
    assert e.static_j == pytest.approx(0.25 * (3 * 0.5 + 2 * 2.0))
    assert e.total_j == pytest.approx(543_210e-12 + 1.375)


def test_loihi_preset_case() -> None:
    e = energy(load_hardware("loihi"), spikes=100, synops=10_000, neuron_updates=1024, hops=300)
    expected_pj = 100 * 1.7 + 10_000 * 23.6 + 1024 * 52 + 300 * 3.5
    assert e.total_j == pytest.approx(expected_pj * 1e-12)
    assert e.static_j == 0.0


def test_zero_counts_give_static_energy_only() -> None:
    hw = load_hardware("loihi").with_chips(2)
    e = energy(hw, time_s=2e-3, cores_used=200, chips_used=2)
    assert e.dynamic_j == 0.0
    assert e.total_j == e.static_j == pytest.approx(2e-3 * 200 * 8.155e-4)


def test_rows_and_assumptions_mark_an_estimate() -> None:
    e = energy(load_hardware("loihi"), synops=1000)
    rows = e.rows()
    assert [name for name, _ in rows][-1] == "total (estimate)"
    assert rows[1] == ("synaptic operations", "23.6 nJ")
    assert len(rows) == 7
    assert e.assumptions and "estimate" in e.assumptions[0]
    with pytest.raises(AttributeError):
        e.static_j = 1.0  # type: ignore[misc]


amounts = st.floats(min_value=0, max_value=1e12, allow_nan=False)


@settings(max_examples=50)
@given(base=st.tuples(*[amounts] * 5), extra=amounts, which=st.sampled_from(COUNTS))
def test_energy_is_monotone_in_each_count(
    base: tuple[float, ...], extra: float, which: str
) -> None:
    hw = load_hardware("loihi")
    counts = dict(zip(COUNTS, base))
    before = energy(hw, **counts, time_s=1e-3)
    after = energy(hw, **(counts | {which: counts[which] + extra}), time_s=1e-3)
    assert after.total_j >= before.total_j


@settings(max_examples=50)
@given(a=st.tuples(*[amounts] * 6), b=st.tuples(*[amounts] * 6))
def test_energy_is_additive(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    hw = round_numbers()
    keys = (*COUNTS, "time_s")
    ea = energy(hw, **dict(zip(keys, a)), cores_used=5, chips_used=2)
    eb = energy(hw, **dict(zip(keys, b)), cores_used=5, chips_used=2)
    both = energy(hw, **{k: x + y for k, x, y in zip(keys, a, b)}, cores_used=5, chips_used=2)
    assert math.isclose(both.total_j, ea.total_j + eb.total_j, rel_tol=1e-9, abs_tol=1e-30)
    assert math.isclose(both.static_j, ea.static_j + eb.static_j, rel_tol=1e-9, abs_tol=1e-30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"spikes": -1}, r"spikes = -1: must be finite and ≥ 0"),
        ({"synops": float("nan")}, r"synops = nan"),
        ({"hops": float("inf")}, r"hops = inf"),
        ({"time_s": -0.5}, r"time_s = -0\.5"),
        ({"neuron_updates": "10"}, r"neuron_updates = '10': must be a number"),
        ({"interchip_transfers": True}, r"interchip_transfers = True: must be a number"),
        ({"cores_used": 1.5}, r"cores_used = 1\.5: must be an integer ≥ 0"),
        ({"chips_used": -1}, r"chips_used = -1"),
        ({"chips_used": 2}, r"chips_used = 2: loihi has 1 chips"),
        ({"cores_used": 129}, r"cores_used = 129: 1 chips of loihi have 128 cores"),
    ],
)
def test_invalid_inputs_are_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidDataError, match=message):
        energy(load_hardware("loihi"), **overrides)  # type: ignore[arg-type]
