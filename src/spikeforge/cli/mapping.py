"""Commands of the mapping stage: ``hw list``, ``hw show NAME``, ``map NET --hw NAME ...``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, add_strategy_argument, console, count
from spikeforge.cli.report import (
    add_report_option,
    check_report,
    settings_of,
    write_report,
)


def _descriptions(specs):
    from rich.markup import escape
    from rich.table import Table

    """Name → description as a borderless grid under a table, so the table itself stays narrow."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for spec in specs:
        grid.add_row(escape(spec.name), escape(spec.description))
    return grid


def run_hw_list(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.table import Table

    from spikeforge.hardware import list_presets, load_hardware
    from spikeforge.hardware.accelerator import (
        list_accelerator_presets,
        load_accelerator,
    )

    out = out or console()

    crossbar_chips = [load_hardware(name) for name in list_presets()]
    table = Table(title="crossbar hardware presets (spikeforge map / compile)")
    for col in ("name", "chips", "cores/chip", "crossbars/core", "neurons/core", "weight bits"):
        table.add_column(col, justify="left" if col in ("name", "crossbars/core") else "right", no_wrap=True)
    for hw in crossbar_chips:
        table.add_row(hw.name, str(hw.chips), f"{hw.cores_per_chip:,}",
                      f"{hw.core.crossbars_per_core} × {hw.core.crossbar_rows}×{hw.core.crossbar_columns}",
                      f"{hw.core.neurons_per_core:,}", str(hw.precision.weight_bits))
    out.print(table)
    out.print(_descriptions(crossbar_chips))
    out.print()
    accelerators = [load_accelerator(name) for name in list_accelerator_presets()]
    table = Table(title="accelerator presets (spikeforge accel / codesign)")
    for col in ("name", "PEs", "clock", "peak", "power"):
        table.add_column(col, justify="left" if col == "name" else "right", no_wrap=True)
    for spec in accelerators:
        table.add_row(spec.name, str(spec.pes), f"{spec.clock_mhz:g} MHz", f"{spec.peak_gops:g} GOPS",
                      f"{spec.power_w:g} W")
    out.print(table)
    out.print(_descriptions(accelerators))


def _field_table(title: str, rows):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    return table


def run_hw_show(args: argparse.Namespace, out: Console | None = None) -> None:
    from spikeforge.hardware import hardware_table_rows, load_hardware
    from spikeforge.hardware.accelerator import (
        list_accelerator_presets,
        load_accelerator,
    )

    out = out or console()

    if args.name in list_accelerator_presets():
        spec = load_accelerator(args.name)
        rows = [(k, str(v)) for k, v in spec.model_dump(exclude={"name", "description", "reference"}).items()]
        out.print(_field_table(f"accelerator {spec.name}: {spec.description}",
                                   rows + [("peak GOPS", f"{spec.peak_gops:g}")]))
        return
    hw = load_hardware(args.name)
    out.print(_field_table(hw.summary(), hardware_table_rows(hw)))


def run_map(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.datasets import load_data
    from spikeforge.hardware import load_hardware
    from spikeforge.loaders import load_network
    from spikeforge.mapping.partition import partition
    from spikeforge.mapping.place import check_place_request, place
    from spikeforge.mapping.report import traffic_summary
    from spikeforge.outputs import check_output_file, write_json_atomic
    from spikeforge.report.progress import sample_progress
    from spikeforge.report.runs import placement_page
    from spikeforge.sim.simulator import simulate

    out = out or console()
    inputs = (args.network, args.hw, args.calib)
    check_output_file(args.output, inputs)
    check_report(args, inputs, (args.output,))
    check_place_request(args.hw, chips=args.chips, seed=args.seed)  # before the profile run
    hw = load_hardware(args.hw)
    net = load_network(args.network, model_file=False)  # a folder or a .nir graph
    data = load_data(args.calib)
    if args.samples:
        data = data.take(args.samples)
    with sample_progress(out, f"profile T={args.timesteps}", len(data)) as on_batch:
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
    out.print(table)
    doc = pl.to_json()
    doc["report"] = report.as_dict()
    path = write_json_atomic(args.output, doc, inputs)
    out.print(f"wrote {escape(str(path))}")
    write_report(args, lambda: placement_page(doc, str(path), placement=pl, profile=profile, network=net,
                                              settings=settings_of(args)), (*inputs, args.output), out)


def _hw(p: argparse.ArgumentParser) -> None:
    hw_sub = p.add_subparsers(dest="hw_command", required=True)
    q = hw_sub.add_parser("list", help="the shipped hardware presets")
    q.set_defaults(run=run_hw_list)
    q = hw_sub.add_parser("show", help="every field of a preset or TOML file")
    q.add_argument("name", help="preset name or TOML file")
    q.set_defaults(run=run_hw_show)


def _map(p: argparse.ArgumentParser) -> None:
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER, PARTITIONERS
    from spikeforge.mapping.place import DEFAULT_PLACER, PLACERS
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("network", help="saved SNN folder, or NIR graph (.nir)")
    p.add_argument("--hw", required=True, help="hardware preset name or TOML file")
    p.add_argument("--calib", required=True, help="calibration data (.npz with x, or 'digits')")
    p.add_argument("-o", "--output", required=True, help="placement JSON to write")
    p.add_argument("--chips", type=count(), help="chips on the board (default: as in the hardware file)")
    add_strategy_argument(p, "--partitioner", PARTITIONERS, DEFAULT_PARTITIONER)
    add_strategy_argument(p, "--placer", PLACERS, DEFAULT_PLACER)
    p.add_argument("--fan-in", choices=("split", "unroll", "none"), default="split",
                   help="neurons with more inputs than crossbar rows (default split)")
    p.add_argument("--timesteps", "-T", type=count(high=MAX_TIMESTEPS), default=8)
    p.add_argument("--samples", type=count(), default=64, help="calibration samples profiled (default 64)")
    p.add_argument("--seed", type=int, default=0)
    add_report_option(p)
    p.set_defaults(run=run_map)


COMMANDS = (
    Command("hw", "hardware presets and their limits", _hw),
    Command("map", "partition and place an SNN on hardware; traffic and energy", _map),
)
