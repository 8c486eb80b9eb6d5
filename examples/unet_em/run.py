"""Spiking U-Net for EM segmentation (ISBI 2012), after Patel et al.: train → convert → evaluate → map.

    python examples/unet_em/run.py [--data ../shared/data/isbi2012] [--out out/unet_em] [--timesteps 8]

Trains the U-Net of ``spikeforge.apps.em.RECIPE`` (QCFS activations + percentile firing-rate
regulariser, ~33 min on one CPU thread) or loads it from ~/.cache/spikeforge; converts it to an SNN;
evaluates the ANN, the float SNN and the 8-bit SNN on the validation slices 24–29 (512×512
slices as four 256×256 quadrants); maps a 64×64-tile SNN onto Loihi chips with the default placer and with ``fill``;
writes ``comparison.png`` and ``metrics.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from spikeforge.apps.em import (
    from_tiles,
    load_isbi,
    save_comparison,
    segment,
    segmentation_metrics,
    to_tiles,
    train_or_load,
)
from spikeforge.convert.normalise import convert
from spikeforge.errors import SpikeforgeError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware import load_hardware
from spikeforge.mapping.partition import DEFAULT_PARTITIONER
from spikeforge.mapping.place import DEFAULT_PLACER
from spikeforge.mapping.report import traffic_summary
from spikeforge.pipeline import partition_pass, place_pass
from spikeforge.quantize import quantize
from spikeforge.quantize.integer_sim import simulate_integer
from spikeforge.sim.simulator import run_ann, simulate

DEFAULT_DATA = Path(os.environ.get("SPIKEFORGE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "isbi2012"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the isbi2012 folder")
    ap.add_argument("--out", type=Path, default=Path("out/unet_em"))
    ap.add_argument("--timesteps", type=int, default=8)
    ap.add_argument("--tile", type=int, default=64, help="resolution of the mapped SNN")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("SPIKEFORGE_THREADS", "1")))
    console = Console()
    try:
        train, val = load_isbi(args.data, "train"), load_isbi(args.data, "val")
    except SpikeforgeError as exc:           # missing data: say where it goes, no traceback
        sys.exit(f"error: {exc}")
    model, record = train_or_load(train)
    console.print(f"U-Net: {record['iterations_done']} training iterations ({record['train_seconds'] / 60:.1f} min)")

    x, truth, T = val.images, val.masks, args.timesteps
    xt = to_tiles(x, 256)                    # slices as 256×256 quadrants: a 512² SNN needs many GB
    ann = import_torch(model, xt.shape[1:], name="unet-em")
    snn = convert(ann)                       # QCFS clips are the normalisation scales
    ann_mask = from_tiles(segment(run_ann(ann, xt, batch_size=1)), 512)
    snn_mask = from_tiles(segment(simulate(snn, xt, timesteps=T, batch_size=1, counters=False).outputs[T]), 512)
    q = quantize(snn, weight_bits=8, threshold_bits=16, membrane_bits=24, input_range=1.0)
    r = simulate_integer(q, xt, T, batch_size=1)
    int_mask = from_tiles(segment(q.dequantize(r.outputs[q.network.outputs[0]])), 512)
    metrics = {name: segmentation_metrics(m, truth) for name, m in
               (("ANN", ann_mask), (f"SNN float T={T}", snn_mask), (f"SNN 8-bit T={T}", int_mask))}
    table = Table(title="validation slices 24-29 (512×512)")
    for col in ("model", "pixel acc.", "fg IoU", "adapted Rand err.", "VI"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in metrics.items():
        table.add_row(name, f"{100 * m['pixel_accuracy']:.2f}%", f"{100 * m['foreground_iou']:.2f}%",
                      f"{m['adapted_rand_error']:.4f}", f"{m['variation_of_information']:.3f}")
    console.print(table)

    # map the SNN at tile resolution: the tiles of one slice give its activity profile
    s = args.tile
    tiles = to_tiles(x[:1], s)
    snn_t = convert(import_torch(model, (1, s, s), name=f"unet-em-{s}"))
    profile = simulate(snn_t, tiles, timesteps=T, batch_size=8).profile
    hw = load_hardware("loihi")
    part = partition_pass(snn_t, profile, hw, DEFAULT_PARTITIONER)
    chips = max(2, -(-part.n_clusters // hw.crossbars_per_chip))
    mapping = {}
    for placer in (DEFAULT_PLACER, "fill"):
        rep = traffic_summary(place_pass(part, hw, placer, chips, None), profile)
        mapping[placer] = rep.spikes_between_chips + rep.partial_sums_between_chips
        console.print(f"{placer:>8}: {rep.chips_used} chips, inter-chip traffic {mapping[placer]:,.0f} per tile, "
                      f"energy {rep.energy.total_j * 1e6:,.1f} µJ per tile (estimate)")

    args.out.mkdir(parents=True, exist_ok=True)
    png = save_comparison(args.out / "comparison.png", x[0, 0], truth[0],
                          {"ANN": ann_mask[0], f"SNN float T={T}": snn_mask[0], f"SNN 8-bit T={T}": int_mask[0]},
                          title=f"ISBI 2012 slice {val.slices[0]}")
    (args.out / "metrics.json").write_text(json.dumps(
        {"metrics": metrics, "timesteps": T, "interchip_traffic_per_tile": mapping, "chips": chips,
         "tile": s, "training": {k: v for k, v in record.items() if k != "losses"}}, indent=1, default=float))
    console.print(f"wrote {png} and {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
