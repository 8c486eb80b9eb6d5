"""A directly-trained SNN (a NIR graph) to a guaranteed throughput and energy on Loihi, in one command.

    python examples/nir_to_loihi/run.py [MODEL.nir] [-o out/nir_to_loihi] [-T 8] [--hw loihi]

Default model: the NIR paper's Braille network (snnTorch, recurrent CubaLIF), from
``../shared/data/nir``. The calibration input is Bernoulli spike trains at the model's input shape
(its data set is not shipped); give ``--calib spikes.npz`` (x of shape (N, T, *input shape)) for
real ones. Everything else is ``spikeforge compile MODEL.nir --hw loihi``.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT.parent / "shared" / "data" / "nir" / "braille_noDelay_bias_zero.nir"


def main(argv: list[str] | None = None) -> int:
    from spikeforge.cli import main as spikeforge
    from spikeforge.frontends.nir import read_nir
    from spikeforge.outputs import atomic_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default=str(DEFAULT), help="NIR graph (.nir)")
    p.add_argument("-o", "--output", default="out/nir_to_loihi", help="artifact folder to write")
    p.add_argument("-T", "--timesteps", type=int, default=8)
    p.add_argument("--hw", default="loihi")
    p.add_argument("--calib", help="spike trains (.npz with x (N, T, *input shape)); default: random ones")
    args = p.parse_args(argv)
    calib = args.calib
    if calib is None:
        shape = read_nir(args.model).input.shape
        x = (np.random.default_rng(0).random((16, args.timesteps, *shape)) < 0.2).astype(np.float32)
        calib = str(Path(args.output).with_name(Path(args.output).name + "_calib.npz"))

        def write(f):
            buffer = io.BytesIO()
            np.savez(buffer, x=x)
            f.write(buffer.getvalue())

        atomic_file(calib, write)
    return spikeforge(["compile", args.model, "--hw", args.hw, "--calib", calib, "-T", str(args.timesteps),
                       "-o", args.output])


if __name__ == "__main__":
    sys.exit(main())
