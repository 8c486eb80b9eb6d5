"""Reports of mapped runs: a compile artifact (:func:`artifact_page`) and a ``map`` placement
JSON (:func:`placement_page`), from their files or, for ``compile --report`` and ``map --report``,
with the live values the command holds (the profile, the placement, the network), which add what
the files do not store: firing rates and synaptic operations per layer, the exact inter-chip
traffic bound of the partition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spikeforge.api import public
from spikeforge.errors import ModelFileError
from spikeforge.report.mesh import MappingView, stream_bound
from spikeforge.report.page import Page
from spikeforge.report.sections import (
    ENERGY_KEYS,
    accuracy_section,
    check_field,
    dataflow_section,
    energy_section,
    environment_section,
    fact,
    joules_of,
    layer_rows,
    layers_section,
    mapping_section,
    settings_section,
    si,
)

if TYPE_CHECKING:
    from spikeforge.artifact import Artifact
    from spikeforge.explore.codesign import SweepResult
    from spikeforge.ir.hardware import Hardware
    from spikeforge.ir.network import Network
    from spikeforge.ir.placement import Placement
    from spikeforge.sim.simulator import Profile

__all__ = ["PLACEMENT_FORMAT", "artifact_page", "placement_page", "sweep_meta"]


PLACEMENT_FORMAT = "spikeforge-placement/1"


def _view_of_placement(pl: Placement) -> MappingView:
    part = pl.partition
    src, dst, tok = part.edges()
    layer = np.asarray(part.cluster_layer, np.int64)
    names = tuple(part.layers) + ("mixed",)
    return MappingView(pl.hardware, part.timesteps, np.asarray(pl.cluster_core), np.where(layer < 0, len(names) - 1,
                       layer), names, np.asarray(part.cluster_columns), src, dst, np.asarray(tok, np.float64))


@public
def artifact_page(artifact: Artifact, *, profile: Profile | None = None, placement: Placement | None = None,
                  settings: dict | None = None) -> Page:
    """The report of a compile artifact; ``profile`` and ``placement`` (what ``compile --report``
    holds) add per-layer activity and the exact inter-chip traffic bound.

    Raises
    ------
    ModelFileError
        The artifact's arrays or figures do not fit its clusters.
    """
    from spikeforge.mapping.report import interchip_bound

    doc, arrays, hw = artifact.document, artifact.arrays, artifact.hardware
    where = str(artifact.path)
    clusters = doc["mapping"]["clusters"]
    names = sorted({c["layer"] for c in clusters if c["layer"] is not None})
    index = {n: i for i, n in enumerate(names)}
    names.append("mixed")
    core = np.array([c["core"] for c in clusters], np.int64)
    check_field(len(core) == 0 or int(core.max()) < hw.total_cores, where, "a cluster's core lies outside the hardware")
    row, col = arrays["traffic_row"], arrays["traffic_col"]
    w = arrays["traffic_spikes"]
    check_field(len(row) == len(col) == len(w) and (not len(row) or max(row.max(), col.max()) < len(core)),
           f"{where}/arrays.npz", "traffic arrays do not fit the clusters")
    keep = row != col
    view = MappingView(hw, artifact.timesteps, core,
                       np.array([index.get(c["layer"], len(names) - 1) for c in clusters], np.int64), tuple(names),
                       np.array([c.get("columns", 0) for c in clusters], np.int64), row[keep], col[keep], w[keep])
    if placement is not None:
        bound = interchip_bound(placement.partition, hw.crossbars_per_chip).total
        bound_note = ("Lower bound on the inter-chip traffic of any placement of this partition "
                      "(mapping.report.interchip_bound: spikes and partial sums bounded apart), as map computes it.")
    else:
        bound = stream_bound(view.src, view.dst, view.tokens, view.clusters, hw.crossbars_per_chip) * view.timesteps
        bound_note = ("Lower bound for any placement of these clusters, from the artifact's summed spike and "
                      "partial-sum streams: of a cluster's streams at most (crossbars per chip − 1) stay on its "
                      "chip. map's bound treats partial sums apart and can be higher.")
    f = doc["figures"]
    g = f["guarantee"]
    acc = f.get("accuracy")
    lat_text = f"{g['latency_ns'] / 1e3:,.3f} µs" + ("" if g["latency_simulated"] else " (estimate: first iteration "
                                                                                        "+ (T−1) periods)")
    per_s = g["inferences_per_s"]
    guarantee = [
        fact("guaranteed throughput", per_s, "unbounded" if isinstance(per_s, str) else
              f"{per_s:,.0f} inferences/s ({g['timesteps_per_s']:,.0f} timesteps/s)", key="guarantee.inferences_per_s"),
        fact("period per timestep", g["period_ns"], f"{g['period_ns']:,.1f} ns", key="guarantee.period_ns"),
        fact("latency per inference", g["latency_ns"], lat_text, key="guarantee.latency_ns"),
        fact("bottleneck", g["bottleneck"], key="guarantee.bottleneck"),
    ]
    r = f["resources"]
    summary = (
        fact(f"accuracy at T={artifact.timesteps}", acc, "n/a (no labels)" if acc is None else
              f"{100 * acc:.2f}% on {f.get('accuracy_on', '')}", key="accuracy"),
        guarantee[0], guarantee[2],
        fact("energy per inference", f["energy_per_inference_j"],
              f"{f['energy'].get('total (estimate)', si(f['energy_per_inference_j'], 'J'))} (estimate)",
              key="energy.total_j"),
        fact("clusters / cores / chips", r["clusters"], f"{r['clusters']:,} / {r['cores']:,} / {r['chips']:,}",
              key="resources.clusters"),
    )
    energy = {label: joules_of(f["energy"][label]) for _, label in ENERGY_KEYS}
    joules = {key: energy[label] for key, label in ENERGY_KEYS}
    sections = [
        layers_section(doc["network"]["layers"], view, profile,
                        note="" if profile is not None else "Firing rates and synaptic operations per layer are not "
                        "stored in the artifact; `spikeforge compile --report` includes them."),
        accuracy_section({f"SNN, T={artifact.timesteps}": {artifact.timesteps: acc}} if acc is not None else {}, {},
                          [], "timesteps T", "") if acc is not None else None,
        mapping_section(view, bound, bound_note, [fact("strategies", f"{doc['mapping']['partitioner']} + "
                                                                        f"{doc['mapping']['placer']} + "
                                                                        f"{doc['mapping']['binding']}")]),
        dataflow_section(artifact.graph, g["critical_actors"], guarantee + [
            fact("SDFG", r["actors"], f"{r['actors']:,} actors ({r['communication_actors']:,} links), "
                                       f"{r['channels']:,} channels", key="resources.actors")], "ns",
            notes=((f"One graph iteration is one timestep; T = {artifact.timesteps} iterations are one inference. "
                   "Guarantees hold for the profiled average activity (see dataflow/build.py)."),)),
        energy_section(joules, f["energy"], f["energy_per_inference_j"], f["energy_assumptions"]),
        settings_section(dict(doc.get("options", {})) | (settings or {}), "As recorded in artifact.json."),
        environment_section(),
    ]
    return Page(f"{doc['name']} on {hw.name}", "compile", where, tuple(s for s in sections if s is not None),
                summary)


@public
def placement_page(doc: dict, source: str, *, hardware: Hardware | None = None, placement: Placement | None = None,
                   profile: Profile | None = None, network: Network | None = None,
                   settings: dict | None = None) -> Page:
    """The report of a ``map`` placement JSON (``doc``); ``placement``, ``profile`` and
    ``network`` (what ``map --report`` holds) add per-layer activity and layer types.

    Raises
    ------
    ModelFileError
        Not a placement document, or its clusters or edges are malformed.
    InvalidHardwareSpecError
        Its hardware is not a preset and ``hardware`` is not given.
    """
    from spikeforge.hardware import load_hardware
    from spikeforge.hardware.energy import estimate_energy

    check_field(isinstance(doc, dict) and doc.get("format") == PLACEMENT_FORMAT, source,
           f"not a spikeforge placement (format {PLACEMENT_FORMAT!r} expected)")
    if placement is not None:
        view = _view_of_placement(placement)
        hw = placement.hardware
    else:
        hw = hardware if hardware is not None else load_hardware(doc["hardware"])
        if hw.board.chips != doc.get("chips", hw.board.chips):
            hw = hw.with_chips(int(doc["chips"]))
        view = _view_of_doc(doc, hw, source)
    report = doc.get("report", {})
    T = int(doc.get("timesteps", 1))
    layers = _doc_layers(doc, view, network)
    rates = _doc_rates(doc, T, layers)
    check_field(isinstance(report, dict) and isinstance(report.get("energy_j", {}), dict), source,
                "report: not an object with an energy_j object")
    energy = report.get("energy_j", {})
    for key, value in [*report.items(), *(("energy_j." + k, v) for k, v in energy.items())]:
        check_field(type(value) not in (int, float) or (math.isfinite(value) and value >= 0), source,
                    f"report.{key} {value!r}: a figure must be finite and ≥ 0")
    sections = [layers_section(layers, view, profile, rates, note="" if profile is not None else
                                "Firing rate: spikes per neuron per timestep from the clusters' recorded spikes; "
                                "synaptic operations per layer are not stored in a placement JSON.")]
    extra = [fact("strategies", f"{doc.get('partitioner')} + {doc.get('placer')}")]
    if report:
        extra += [fact("most loaded link", report.get("max_link_load", 0.0),
                        f"{report.get('max_link_load', 0.0):,.0f} spikes ({report.get('max_link', '')})",
                        key="report.max_link_load"),
                  fact("spike-hops (NoC + inter-chip)", report.get("spike_hops", 0.0),
                        f"{report.get('spike_hops', 0.0):,.0f}", key="report.spike_hops"),
                  fact("inference time (estimate)", report.get("time_s", 0.0),
                        f"{report.get('time_s', 0.0) * 1e6:,.2f} µs", key="report.time_s")]
    bound = report.get("interchip_traffic_bound")
    sections.append(mapping_section(view, bound, "Lower bound on the inter-chip traffic of any placement of this "
                                     "partition (mapping.report.interchip_bound), as map computed it.", extra))
    if energy:
        assumptions = estimate_energy(hw, spikes=0, synops=0, neuron_updates=0, hops=0, interchip_transfers=0,
                                      time_s=0.0, cores_used=0, chips_used=0).assumptions
        sections.append(energy_section({k: float(energy.get(k, 0.0)) for k, _ in ENERGY_KEYS}, {},
                                        float(energy.get("total", 0.0)), assumptions + (
            "event counts are the profile's averages per inference",
            ("static energy over the inference time estimate (T × the slowest core's work per timestep, or the "
            "chip's timestep)"))))
    recorded = {k: doc.get(k) for k in ("network", "hardware", "chips", "partitioner", "placer", "fan_in", "timesteps")}
    recorded |= {"limits": doc.get("limits"), "notes": doc.get("notes")}
    sections += [settings_section(recorded | (settings or {}), "As recorded in the placement JSON."), environment_section()]
    summary = (fact("clusters", view.clusters, key="summary.clusters"),
               fact("chips used", len(np.unique(view.cluster_chip)), key="summary.chips"),
               fact("inter-chip traffic", view.interchip_traffic(), f"{view.interchip_traffic():,.0f} tokens per "
                     "inference", key="summary.interchip"))
    return Page(f"{doc.get('network')} on {hw.name}: placement", "map", source, tuple(sections), summary)


def _view_of_doc(doc: dict, hw: Hardware, source: str) -> MappingView:
    clusters = doc.get("clusters")
    check_field(isinstance(clusters, list), source, "no list of clusters")
    timesteps = doc.get("timesteps", 1)
    check_field(type(timesteps) is int and timesteps >= 1, source, f"timesteps {timesteps!r}: expected an integer ≥ 1")
    try:
        core = np.array([c["core"] for c in clusters], np.int64)
        columns = np.array([c.get("columns", 0) for c in clusters], np.int64)
        counts = np.array([(c.get("spikes_per_timestep", 0.0), c.get("synapses", 0)) for c in clusters], np.float64)
        first = [c["pieces"][0]["layer"] if c.get("pieces") else None for c in clusters]
        mixed = [len({p["layer"] for p in c.get("pieces", ())}) > 1 for c in clusters]
        edges = np.array(doc.get("edges", []), np.float64).reshape(-1, 3)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(f"{source}: malformed clusters or edges ({type(exc).__name__}: {exc})") from None
    check_field(len(core) > 0, source, "no clusters")
    # Every figure drawn or summed from here on: a NaN or a negative count is a damaged file, not a mapping.
    check_field(bool((columns >= 0).all() and np.isfinite(counts).all() and (counts >= 0).all()), source,
                "a cluster's columns, spikes per timestep or synapses negative, NaN or infinite")
    check_field(bool(np.isfinite(edges[:, 2]).all() and (edges[:, 2] >= 0).all()), source,
                "an edge's traffic negative, NaN or infinite")
    check_field(core.min() >= 0 and core.max() < hw.total_cores, source,
           f"a cluster's core outside the {hw.total_cores:,} cores of {hw.name} with {hw.board.chips} chip(s)")
    names = sorted({n for n in first if n is not None})
    index = {n: i for i, n in enumerate(names)}
    names.append("mixed")
    layer = np.array([len(names) - 1 if m or n is None else index[n] for n, m in zip(first, mixed)], np.int64)
    src, dst = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    check_field(not len(src) or (min(src.min(), dst.min()) >= 0 and max(src.max(), dst.max()) < len(core)), source,
           "an edge names a cluster that does not exist")
    return MappingView(hw, timesteps, core, layer, tuple(names), columns, src, dst, edges[:, 2])


def _piece_neurons(piece: dict) -> int:
    return int(np.prod([b - a for a, b in (piece["channels"], piece["rows"], piece["cols"])]))


def _doc_layers(doc: dict, view: MappingView, network: Network | None) -> list[dict]:
    """Layer rows of a placement: the network's own when given, else from the clusters' pieces."""
    if network is not None:
        return layer_rows(network)
    neurons: dict[str, int] = {}
    synapses: dict[str, float] = {}
    for c in doc["clusters"]:
        pieces = [p for p in c.get("pieces", ()) if p.get("part") == 0]
        total = sum(_piece_neurons(p) for p in pieces) or 1
        for p in pieces:
            neurons[p["layer"]] = neurons.get(p["layer"], 0) + _piece_neurons(p)
            synapses[p["layer"]] = synapses.get(p["layer"], 0.0) + c.get("synapses", 0) * _piece_neurons(p) / total
    return [{"name": n, "type": "", "shape": (), "neurons": neurons[n], "synapses": round(synapses[n])}
            for n in neurons]


def _doc_rates(doc: dict, timesteps: int, layers: Sequence[dict]) -> dict[str, float]:
    """Spikes per neuron per timestep per layer from the clusters' spikes (split by neuron share)."""
    spikes: dict[str, float] = {}
    for c in doc["clusters"]:
        pieces = [p for p in c.get("pieces", ()) if p.get("part") == 0]
        total = sum(_piece_neurons(p) for p in pieces) or 1
        for p in pieces:
            spikes[p["layer"]] = spikes.get(p["layer"], 0.0) + c.get("spikes_per_timestep", 0.0) * \
                _piece_neurons(p) / total
    neurons = {r["name"]: r["neurons"] for r in layers}
    return {n: s / neurons[n] for n, s in spikes.items() if neurons.get(n)}


@public
def sweep_meta(result: SweepResult) -> tuple[list, dict]:
    """The rows and description of a live sweep, as :func:`sweep_page` takes them."""
    from spikeforge.explore.report import csv_rows

    return csv_rows(result.evaluations, result.front), {
        "network": result.network, "hardware": result.hardware, "target": result.target, "samples": result.samples,
        "simulations": result.simulations, "cache_hits": result.cache_hits, "seconds": round(result.seconds, 2),
        "infeasible": [f"{p.label}: {why}" for p, why in result.infeasible] or None}
