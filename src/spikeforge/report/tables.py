"""Aligned result tables (rich) for the CLI and the demo.

Names chosen by users (network, layer, data set, model) are escaped here, so a name such as
``[red]x[/]`` or ``a[/]b`` is printed as it is instead of being read as rich markup (or making
rich fail on an unmatched tag); callers pass names and titles unescaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from spikeforge.ir.network import Network
from spikeforge.sim.simulator import Profile


def _n(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def network_table(net: Network) -> Table:
    """Layers, shapes, neurons, synapses and parameters, with totals."""
    table = Table(title=escape(f"{net.name} ({net.kind.upper()})"))
    for col, justify in (("layer", "left"), ("type", "left"), ("shape", "left"), ("neurons", "right"),
                         ("synapses", "right"), ("parameters", "right")):
        table.add_column(col, justify=justify)
    rows = net.summary()
    for r in rows:
        extra = ""
        node = net.node(r.name)
        if node.is_neuron:
            extra = f" θ̄={float(node.threshold.mean()):.3g}"
        table.add_row(escape(r.name), r.kind + extra, "×".join(map(str, r.shape)), f"{r.neurons:,}", f"{r.synapses:,}",
                      f"{r.parameters:,}")
    table.add_section()
    table.add_row("total", "", "", f"{sum(r.neurons for r in rows):,}", f"{sum(r.synapses for r in rows):,}",
                  f"{sum(r.parameters for r in rows):,}")
    return table


def profile_table(profile: Profile) -> Table:
    """Per-layer spikes and synaptic operations per sample, and firing rates."""
    table = Table(title=f"activity per sample, T = {profile.timesteps}, {profile.samples} samples")
    for col in ("layer", "type", "neurons", "spikes", "rate / step", "synaptic ops", "input"):
        table.add_column(col, justify="left" if col in ("layer", "type", "input") else "right")
    n = profile.samples
    for layer in profile.layers:
        if not layer.neurons and not layer.synops:
            continue
        rate = layer.spikes / (n * profile.timesteps * layer.neurons) if layer.neurons else None
        table.add_row(escape(layer.name), layer.kind, f"{layer.neurons:,}" if layer.neurons else "",
                      _n(layer.spikes / n) if layer.neurons else "", f"{rate:.3f}" if rate is not None else "",
                      _n(layer.synops / n) if layer.synops else "", layer.input_kind or "")
    table.add_section()
    table.add_row("total", "", "", _n(profile.spikes_per_sample), "", _n(profile.synops_per_sample),
                  f"+ {_n(profile.input_macs_per_sample)} input MACs")
    return table


def accuracy_table(title: str, timesteps: Sequence[int], columns: dict[str, dict[int, float] | float],
                   extra: dict[str, dict[int, float]] | None = None) -> Table:
    """One row per T; a column per model (a float is a constant, e.g. the ANN's accuracy). The
    title and column names are shown as they are (escaped here)."""
    table = Table(title=escape(title))
    table.add_column("T", justify="right")
    for name in list(columns) + list(extra or {}):
        table.add_column(escape(name), justify="right")
    for t in timesteps:
        cells = [f"{100 * (v if isinstance(v, float) else v[t]):.2f}%" for v in columns.values()]
        cells += [_n(v[t]) for v in (extra or {}).values()]
        table.add_row(str(t), *cells)
    return table
