"""NIR graphs in and out: ``import MODEL.nir -o NET`` and ``export NET -o MODEL.nir``.

A ``.nir`` file is also accepted wherever a model file is (``compile model.nir --hw loihi``,
``simulate``, ``map`` …) through :func:`spikeforge.loaders.load_network`, with the defaults below.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, console


def _dt(text: str) -> float:
    """``--dt``: a timestep in seconds, finite and > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: the timestep must be finite and > 0 seconds")
    return value


def run_import(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.markup import escape

    from spikeforge.frontends.nir import read_nir
    from spikeforge.ir.serialize import save_network
    from spikeforge.outputs import check_output_folder
    from spikeforge.report.tables import network_table

    out = out or console()
    check_output_folder(args.output, inputs=(args.model,))
    net = read_nir(args.model, dt=args.dt, reset=args.reset)
    meta = {"source": str(args.model), "nir": {"dt": args.dt, "reset": args.reset}}
    path = save_network(net, args.output, meta)
    out.print(network_table(net))
    out.print(f"wrote {escape(str(path))}")


def run_export(args: argparse.Namespace, out: Console | None = None) -> None:
    import warnings

    from rich.markup import escape

    from spikeforge.frontends.nir import NIRExportWarning, write_nir
    from spikeforge.loaders import load_network
    from spikeforge.outputs import check_output_file

    out = out or console()
    check_output_file(args.output, inputs=(args.network,))
    net = load_network(args.network, model_file=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NIRExportWarning)
        path = write_nir(net, args.output, dt=args.dt)
    for w in caught:
        out.print(f"[yellow]warning:[/] {escape(str(w.message))}")
    out.print(f"wrote {escape(str(path))}")


def _import(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="NIR graph (.nir) exported by snnTorch, Norse, sinabs, Rockpool, Lava …")
    p.add_argument("-o", "--output", required=True, help="network folder to write")
    p.add_argument("--dt", type=_dt, default=1e-4, help="timestep in seconds (default 1e-4, the NIR paper's)")
    p.add_argument("--reset", choices=("nir", "subtract"), default="nir",
                   help="nir: reset to the graph's v_reset (default); subtract: subtract the threshold, as "
                        "sinabs's own neurons do")
    p.set_defaults(run=run_import)


def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="network folder (an SNN: convert or import one first)")
    p.add_argument("-o", "--output", required=True, help="NIR file to write (.nir)")
    p.add_argument("--dt", type=_dt, default=1e-4, help="timestep in seconds (default 1e-4, the NIR paper's)")
    p.set_defaults(run=run_export)


COMMANDS = (
    Command("import", "read a NIR graph (.nir) into a network folder", _import),
    Command("export", "write a network folder as a NIR graph (.nir)", _export),
)
