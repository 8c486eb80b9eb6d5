"""CLI commands of the mapping stage: ``hw list``, ``hw show NAME``, ``map NET --hw NAME ...``.

Registered into the main parser by :func:`add_commands` (``sub`` = the subparsers object).
Every command prints with rich and raises :class:`~spikeforge.errors.SpikeforgeError`
subclasses on bad input.
"""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from spikeforge.errors import InvalidDataError
from spikeforge.report.console import console


def _descriptions(specs) -> Table:
    """Name → description as a borderless grid under a table, so the table itself stays narrow."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for spec in specs:
        grid.add_row(escape(spec.name), escape(spec.description))
    return grid


def cmd_hw_list(args: argparse.Namespace) -> None:
    from spikeforge.hardware import list_presets, load_hardware
    from spikeforge.hardware.accelerator import (
        list_accelerator_presets,
        load_accelerator,
    )

    crossbar_chips = [load_hardware(name) for name in list_presets()]
    table = Table(title="crossbar hardware presets (spikeforge map / compile)")
    for col in ("name", "chips", "cores/chip", "crossbars/core", "neurons/core", "weight bits"):
        table.add_column(col, justify="left" if col in ("name", "crossbars/core") else "right", no_wrap=True)
    for hw in crossbar_chips:
        table.add_row(hw.name, str(hw.chips), f"{hw.cores_per_chip:,}",
                      f"{hw.core.crossbars_per_core} × {hw.core.crossbar_rows}×{hw.core.crossbar_columns}",
                      f"{hw.core.neurons_per_core:,}", str(hw.precision.weight_bits))
    console.print(table)
    console.print(_descriptions(crossbar_chips))
    console.print()
    accelerators = [load_accelerator(name) for name in list_accelerator_presets()]
    table = Table(title="accelerator presets (spikeforge accel / codesign)")
    for col in ("name", "PEs", "clock", "peak", "power"):
        table.add_column(col, justify="left" if col == "name" else "right", no_wrap=True)
    for spec in accelerators:
        table.add_row(spec.name, str(spec.pes), f"{spec.clock_mhz:g} MHz", f"{spec.peak_gops:g} GOPS",
                      f"{spec.power_w:g} W")
    console.print(table)
    console.print(_descriptions(accelerators))


def _field_table(title: str, rows) -> Table:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    return table


def cmd_hw_show(args: argparse.Namespace) -> None:
    from spikeforge.hardware import hardware_table_rows, load_hardware
    from spikeforge.hardware.accelerator import (
        list_accelerator_presets,
        load_accelerator,
    )

    if args.name in list_accelerator_presets():
        spec = load_accelerator(args.name)
        rows = [(k, str(v)) for k, v in spec.model_dump(exclude={"name", "description", "reference"}).items()]
        console.print(_field_table(f"accelerator {spec.name}: {spec.description}",
                                   rows + [("peak GOPS", f"{spec.peak_gops:g}")]))
        return
    hw = load_hardware(args.name)
    console.print(_field_table(hw.summary(), hardware_table_rows(hw)))


def cmd_map(args: argparse.Namespace) -> None:
    from spikeforge.datasets import load_data
    from spikeforge.hardware import load_hardware
    from spikeforge.ir.serialize import load_network
    from spikeforge.mapping.partition import partition
    from spikeforge.mapping.place import check_place_request, place
    from spikeforge.mapping.report import traffic_summary
    from spikeforge.outputs import check_output_file, write_json_atomic
    from spikeforge.report.progress import sample_progress
    from spikeforge.sim.simulator import simulate

    if args.timesteps < 1:
        raise InvalidDataError(f"--timesteps {args.timesteps}: must be ≥ 1")
    if args.chips is not None and args.chips < 1:
        raise InvalidDataError(f"--chips {args.chips}: must be ≥ 1")
    if args.samples is not None and args.samples < 1:
        raise InvalidDataError(f"--samples {args.samples}: must be ≥ 1")
    inputs = (args.network, args.hw, args.calib)
    check_output_file(args.output, inputs)
    check_place_request(args.hw, chips=args.chips, seed=args.seed)  # before the profile run
    hw = load_hardware(args.hw)
    net = load_network(args.network)
    data = load_data(args.calib)
    if args.samples:
        data = data.take(args.samples)
    with sample_progress(console, f"profile T={args.timesteps}", len(data)) as on_batch:
        profile = simulate(net, data.x, timesteps=args.timesteps, on_batch=on_batch).profile
    fan_in = None if args.fan_in == "none" else args.fan_in
    part = partition(net, profile, hw, strategy=args.partitioner, fan_in=fan_in)
    pl = place(part, hw, strategy=args.placer, chips=args.chips, seed=args.seed)
    report = traffic_summary(pl, profile)
    table = Table(title=f"{net.name} on {pl.hardware.name} ({pl.hardware.chips} chip(s)): "
                        f"{part.strategy} + {pl.strategy}, T={profile.timesteps}, {profile.samples} samples")
    table.add_column("figure")
    table.add_column("per inference", justify="right")
    for k, v in report.rows():
        table.add_row(k, v)
    console.print(table)
    doc = pl.to_json()
    doc["report"] = report.as_dict()
    out = write_json_atomic(args.output, doc, inputs)
    console.print(f"wrote {escape(str(out))}")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``hw`` (``list``, ``show``) and ``map`` on the CLI's subparsers object."""
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER, PARTITIONERS
    from spikeforge.mapping.place import DEFAULT_PLACER, PLACERS

    p = sub.add_parser("hw", help="hardware presets and their limits")
    hw_sub = p.add_subparsers(dest="hw_command", required=True)
    q = hw_sub.add_parser("list", help="the shipped hardware presets")
    q.set_defaults(run=cmd_hw_list)
    q = hw_sub.add_parser("show", help="every field of a preset or TOML file")
    q.add_argument("name", help="preset name or TOML file")
    q.set_defaults(run=cmd_hw_show)

    p = sub.add_parser("map", help="partition and place an SNN on hardware; traffic and energy")
    p.add_argument("network", help="saved SNN folder")
    p.add_argument("--hw", required=True, help="hardware preset name or TOML file")
    p.add_argument("--calib", required=True, help="calibration data (.npz with x, or 'digits')")
    p.add_argument("-o", "--output", required=True, help="placement JSON to write")
    p.add_argument("--chips", type=int, help="chips on the board (default: as in the hardware file)")
    p.add_argument("--partitioner", choices=sorted(PARTITIONERS), default=DEFAULT_PARTITIONER)
    p.add_argument("--placer", choices=sorted(PLACERS), default=DEFAULT_PLACER)
    p.add_argument("--fan-in", choices=("split", "unroll", "none"), default="split",
                   help="neurons with more inputs than crossbar rows (default split)")
    p.add_argument("--timesteps", "-T", type=int, default=8)
    p.add_argument("--samples", type=int, default=64, help="calibration samples profiled (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_map)
