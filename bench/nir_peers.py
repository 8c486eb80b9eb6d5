"""NIR round trips against the peers that write and read NIR: snnTorch, Norse and sinabs.

Two sides, two environments (the peers' pins conflict with spikeforge's):

* ``.venv-bench/bin/python bench/nir_peers.py peers [DIR]`` — the peer side (this file's ``peer_*``
  functions, which import only the peers): trains small networks for a few seconds on random spike
  trains — in snnTorch a convolutional LIF one, a recurrent one (``RLeaky``) and a current-based
  one (``Synaptic``: NIR CubaLIF); in Norse a LIF one (``LIFBoxCell``), one with an ``LIBoxCell``
  read-out (NIR LI) and a current-based one (``LIFCell``: NIR CubaLIF) — and builds a sinabs one
  (``IAF``, ``SumPool2d``, an ``ExpLeak`` read-out: NIR IF, SumPool2d, LI), exports each with the
  peer's own NIR writer, and records every neuron layer's spikes and membrane potential (a
  read-out's membrane is its output), step by step, on fixed inputs, with the peer's own time for
  one batch.
  ``... reverse FILE.nir X.npz OUT.npz PEER`` imports a NIR file with PEER's own reader and records the
  same. Files go to ``DIR`` (default ``~/.cache/spikeforge/nir_peers``).
* ``.venv/bin/python bench/nir_peers.py`` — spikeforge's side: runs the peer side, imports each
  peer's file, compares spikes (identical) and membranes (float32 tolerance) step by step, exports
  spikeforge networks for each peer's reader, times spikeforge's simulation on the same T and batch,
  and writes ``bench/results/nir_peers.json`` with the peers' versions.

Norse 1.1's writer exports only feed-forward modules (no recurrent cell) and writes
``tau = dt / tau_mem_inv`` (that is dt·τ, not τ): its file is read at the ``dt`` that gives Norse's
own decay, recorded beside it. Norse's reader ignores ``r``, so its reverse check uses IF neurons.
Norse's ``LIFCell`` updates in spikeforge's order (the input jumps into the synaptic current, the
membrane integrates the new current, then the current decays), but its writer leaves ``w_in`` at 1
where that unscaled jump needs ``τ_syn/dt``: the file is also read with ``w_in`` written in
(``norse_cubalif_w_in``). sinabs's time constants count steps and its ``ExpLeak`` decays by
``exp(-1/τ)``: with ``norm_input=True`` that is NIR's forward Euler at ``dt = τ(1 − e^{-1/τ})``.
snnTorch's ``RSynaptic`` is left out (its ``reset_delay=False`` path resets only local variables).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SPIKEFORGE_NIR_PEERS", Path.home() / ".cache" / "spikeforge" / "nir_peers"))
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
T, BATCH, SEED = 20, 16, 0
NORSE_DT = 1e-3  # Norse's default timestep


def spikes_in(shape: tuple[int, ...], n: int = BATCH, t: int = T, p: float = 0.25, seed: int = SEED) -> np.ndarray:
    """Fixed Bernoulli spike trains (n, t, *shape), float32."""
    return (np.random.default_rng(seed).random((n, t, *shape)) < p).astype(np.float32)


def _fastest(run, repeats: int = 15) -> float:
    """The fastest of ``repeats`` runs after a warm-up, in seconds (both sides alike: the machine is
    shared, and the minimum is the least disturbed)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


# -- the peer side (.venv-bench) -------------------------------------------------------------------

def _train(model_step, params, shape, classes: int, steps: int = 8) -> None:
    """A few seconds of Adam on random spike trains, label = the busier half of the input."""
    import torch

    x = torch.as_tensor(spikes_in(shape, n=64, seed=SEED + 1))
    y = (x.flatten(2).sum(1)[:, : x[0, 0].numel() // 2].sum(1) > x.flatten(2).sum(1)[:, x[0, 0].numel() // 2:].sum(1))
    y = y.long() % classes
    opt = torch.optim.Adam(params, lr=2e-3)
    for _ in range(steps):
        counts = model_step(x).sum(0)
        loss = torch.nn.functional.cross_entropy(counts, y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _snntorch_run(net, layers: dict[str, object], x) -> tuple[dict[str, np.ndarray], object]:
    """Step a snnTorch net with ``init_hidden`` neurons; record each layer's spikes and membranes."""
    import snntorch.utils as su
    import torch

    su.reset(net)
    rec: dict[str, list] = {f"{k}/{w}": [] for k in layers for w in ("spikes", "v")}
    hooks = [layer.register_forward_hook(
        lambda mod, args, output, name=name: rec[f"{name}/spikes"].append(
            (output[0] if isinstance(output, tuple) else output).detach().clone()))
        for name, layer in layers.items()]
    out = []
    for t in range(x.shape[1]):
        out.append(net(x[:, t]))
        for name, layer in layers.items():
            rec[f"{name}/v"].append(layer.mem.detach().clone())
    for hook in hooks:
        hook.remove()
    return {k: torch.stack(v).numpy() for k, v in rec.items()}, torch.stack(out)


@contextlib.contextmanager
def _no_type_inference():
    """nir 1.0.8's type inference takes the batch dimension nirtorch traces with for a channel
    (an IndexError on Conv2d, a type mismatch on Linear): export without it; :func:`_tidy` then
    writes the types."""
    import nir

    saved = nir.NIRGraph.infer_types, nir.NIRGraph.check_types
    nir.NIRGraph.infer_types = nir.NIRGraph.check_types = lambda self: None
    try:
        yield
    finally:
        nir.NIRGraph.infer_types, nir.NIRGraph.check_types = saved


def _tidy(graph, shape: tuple[int, ...], flat_in: tuple[int, ...] = (8, 6, 6)) -> None:
    """What nir.write needs of a graph exported without type inference: the traced batch dimension
    dropped from the Input/Output types, conv input sizes set, tensors as arrays."""
    import nir
    import torch

    for node in graph.nodes.values():
        for field, value in list(vars(node).items()):
            if isinstance(value, torch.Tensor):
                setattr(node, field, value.detach().numpy())
            elif isinstance(value, dict) and field != "nodes":
                setattr(node, field, {k: np.asarray(v) for k, v in value.items() if v is not None})
            elif isinstance(value, list) and field != "edges":
                setattr(node, field, {field.replace("_type", ""): np.array(value)})
        if isinstance(node, nir.Input):
            node.input_type = node.output_type = {"input": np.array(shape)}
        if isinstance(node, nir.Output):
            node.output_type = {"output": np.array(node.output_type["output"][1:])}
            node.input_type = {"input": node.output_type["output"]}
        if isinstance(node, nir.Flatten) and "input" not in node.input_type:
            node.input_type = {"input": np.array(flat_in)}
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(shape[1:])
        if isinstance(node, nir.NIRGraph):
            _tidy(node, shape, flat_in)


def peer_snntorch(out: Path) -> dict:
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    results = {}
    torch.manual_seed(SEED)
    lif = {"beta": 0.9, "init_hidden": True, "reset_mechanism": "zero", "reset_delay": False}
    # a convolutional LIF network
    conv = torch.nn.Sequential(torch.nn.Conv2d(2, 8, 3, stride=2, padding=1), snn.Leaky(threshold=0.5, **lif),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4), snn.Leaky(threshold=0.5, **lif))
    # a recurrent one: Linear -> RLeaky (all-to-all recurrent Linear) -> Linear -> Leaky
    rec = torch.nn.Sequential(torch.nn.Linear(12, 24),
                              snn.RLeaky(linear_features=24, threshold=0.5, all_to_all=True, **lif),
                              torch.nn.Linear(24, 4), snn.Leaky(threshold=0.5, **lif))
    cuba = {"alpha": 0.8, **lif}
    # current-based synapses: Linear -> Synaptic -> Linear -> Synaptic (NIR CubaLIF)
    syn = torch.nn.Sequential(torch.nn.Linear(12, 24), snn.Synaptic(threshold=0.5, **cuba),
                              torch.nn.Linear(24, 4), snn.Synaptic(threshold=0.5, **cuba))
    # (RSynaptic is left out: snnTorch 1.0.0's reset_delay=False path reads an unset local and resets
    # only locals, so its neurons reset one step late, which no NIR CubaLIF says)
    for key, net, shape, layers in (("snntorch_conv", conv, (2, 12, 12), {"1": conv[1], "4": conv[4]}),
                                    ("snntorch_recurrent", rec, (12,), {"1": rec[1], "3": rec[3]}),
                                    ("snntorch_synaptic", syn, (12,), {"1": syn[1], "3": syn[3]})):
        import snntorch.utils as su

        def step(x, net=net):
            su.reset(net)
            return torch.stack([net(x[:, t]) for t in range(x.shape[1])])

        start = time.perf_counter()
        _train(step, net.parameters(), shape, 4)
        train_s = time.perf_counter() - start
        x = torch.as_tensor(spikes_in(shape))
        with torch.no_grad():
            with _no_type_inference():
                graph = export_to_nir(net, x[:1, 0])
            _tidy(graph, shape)
            traces, _ = _snntorch_run(net, layers, x)
            seconds = _fastest(lambda x=x, step=step: step(x))
        nir.write(out / f"{key}.nir", graph, compression=None)
        np.savez(out / f"{key}.npz", x=x.numpy(), **traces)
        results[key] = {"train_s": train_s, "seconds_per_batch": seconds, "T": T, "batch": BATCH,
                        "layers": list(layers), "dt": 1e-4}
    return results


def peer_norse(out: Path) -> dict:
    """Three Norse networks: LIFBoxCell (NIR LIF), LIFBoxCell with an LIBoxCell read-out (NIR LI), and
    LIFCell (current-based: NIR CubaLIF), each trained briefly and exported by Norse's writer."""
    import nir
    import norse.torch as norse
    import torch

    torch.manual_seed(SEED)
    box = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(0.1))
    cuba = norse.LIFParameters(tau_mem_inv=torch.tensor(100.0), tau_syn_inv=torch.tensor(200.0),
                               v_th=torch.tensor(0.1))
    nets = {
        "norse_lif": [torch.nn.Linear(12, 24), norse.LIFBoxCell(box, dt=NORSE_DT), torch.nn.Linear(24, 4),
                      norse.LIFBoxCell(box, dt=NORSE_DT)],
        "norse_li": [torch.nn.Linear(12, 24), norse.LIFBoxCell(box, dt=NORSE_DT), torch.nn.Linear(24, 4),
                     norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.tensor(50.0)), dt=NORSE_DT)],
        "norse_cubalif": [torch.nn.Linear(12, 24), norse.LIFCell(cuba, dt=NORSE_DT), torch.nn.Linear(24, 4),
                          norse.LIFCell(cuba, dt=NORSE_DT)],
    }
    results = {}
    for key, layers in nets.items():
        model = norse.SequentialState(*layers)

        def run(x, record: dict | None = None, layers=layers):
            states = [None] * len(layers)
            outs = []
            for t in range(x.shape[1]):
                h = x[:, t]
                for i, layer in enumerate(layers):
                    if isinstance(layer, torch.nn.Linear):
                        h = layer(h)
                        continue
                    h, states[i] = layer(h, states[i])
                    if record is not None:
                        if not isinstance(layer, norse.LIBoxCell):  # a read-out: its output is its membrane
                            record.setdefault(f"{i}/spikes", []).append(h.detach().clone())
                        record.setdefault(f"{i}/v", []).append(states[i].v.detach().clone())
                outs.append(h)
            return torch.stack(outs)

        params = [q for layer in layers for q in layer.parameters()]
        start = time.perf_counter()
        _train(run, params, (12,), 4)
        train_s = time.perf_counter() - start
        x = torch.as_tensor(spikes_in((12,)))
        with torch.no_grad():
            with _no_type_inference():
                graph = norse.to_nir(model, x[:1, 0], dt=NORSE_DT)
            _tidy(graph, (12,))
            rec: dict = {}
            run(x, rec)
            seconds = _fastest(lambda run=run, x=x: run(x))
        nir.write(out / f"{key}.nir", graph, compression=None)
        np.savez(out / f"{key}.npz", x=x.numpy(), **{k: torch.stack(v).numpy() for k, v in rec.items()})
        # Norse writes tau = dt / tau_inv = dt·τ: read at dt² the forward Euler decay is Norse's 1 - dt/τ
        results[key] = {"train_s": train_s, "seconds_per_batch": seconds, "T": T, "batch": BATCH,
                        "layers": ["1", "3"], "dt": NORSE_DT**2}
    return results


def peer_sinabs(out: Path) -> dict:
    """A sinabs network of IAF, SumPool2d and an ExpLeak read-out (``norm_input=True``, so that its
    step ``v ← αv + (1 − α)x`` is NIR's forward Euler at dt = τ(1 − α)), exported by sinabs's writer.
    Untrained: sinabs's spikes are single (``SingleSpike``) and its weights non-negative, so the
    potential never meets a lower clamp."""
    import nir
    import sinabs.layers as sl
    import torch
    from sinabs.activation import SingleSpike
    from sinabs.nir import to_nir

    torch.manual_seed(SEED)
    tau = 5.0  # sinabs's time constants count steps
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=BATCH, spike_fn=SingleSpike),
        sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 4),
        sl.ExpLeakSqueeze(tau_mem=tau, batch_size=BATCH, norm_input=True))
    with torch.no_grad():
        net[0].weight.uniform_(0.0, 0.12)
        net[4].weight.normal_(0.0, 0.2)
    net[1].record_states = True
    x = torch.as_tensor(spikes_in((2, 12, 12)))

    def run(x):
        for m in net:
            if hasattr(m, "reset_states"):
                m.reset_states()
        return net(x.flatten(0, 1))

    with torch.no_grad():
        y = run(x)
        rec = {"1/spikes": None, "1/v": net[1].recordings["v_mem"], "5/v": y.reshape(BATCH, T, 4)}
        # IAF's output: re-run with a hook (the Sequential returns only the read-out)
        seen = []
        hook = net[1].register_forward_hook(lambda mod, args, output: seen.append(output.detach().clone()))
        run(x)
        hook.remove()
        rec["1/spikes"] = seen[0].reshape(BATCH, T, 4, 12, 12)
        with _no_type_inference():
            graph = to_nir(net, x.flatten(0, 1))
        _tidy(graph, (2, 12, 12), flat_in=(4, 6, 6))
        seconds = _fastest(lambda: run(x))
    nir.write(out / "sinabs_expleak.nir", graph, compression=None)
    shapes = {"1": (4, 12, 12), "5": (4,)}
    arrays = {k: v.reshape(BATCH, T, *shapes[k.split("/")[0]]).transpose(0, 1).numpy() for k, v in rec.items()}
    np.savez(out / "sinabs_expleak.npz", x=x.numpy(), **arrays)
    return {"sinabs_expleak": {"train_s": 0.0, "seconds_per_batch": seconds, "T": T, "batch": BATCH,
                               "layers": ["1", "5"], "dt": tau * (1 - float(np.exp(-1 / tau))),
                               "reset": "subtract"}}


def peer_reverse(path: Path, x_path: Path, out: Path, peer: str) -> None:
    """Import ``path`` with ``peer``'s own NIR reader, run it on the inputs in ``x_path`` and record
    each spiking module's spikes (and membranes where the peer exposes them) step by step."""
    import nir
    import torch

    x = torch.as_tensor(np.load(x_path)["x"])
    graph = nir.read(path)
    rec: dict[str, list] = {}
    with torch.no_grad():
        if peer == "snntorch":
            import snntorch as snn
            import snntorch.utils as su
            from snntorch.import_nir import import_from_nir

            with _no_type_inference():
                net = import_from_nir(graph)
            neurons = {n: m for n, m in net.named_modules() if isinstance(m, snn.SpikingNeuron)}
            su.reset(net)
            for n, m in neurons.items():
                m.register_forward_hook(lambda mod, args, output, n=n: rec.setdefault(f"{n}/spikes", []).append(
                    (output[0] if isinstance(output, tuple) else output).detach().clone()))
            for t in range(x.shape[1]):
                net(x[:, t])
                for n, m in neurons.items():
                    rec.setdefault(f"{n}/v", []).append(m.mem.detach().clone())
        elif peer == "norse":
            import norse.torch as norse

            with _no_type_inference():
                net = norse.from_nir(graph, dt=1e-4)
            hooks = []
            for n, m in net.named_modules():
                if type(m).__name__ in ("IAFCell", "LIFBoxCell"):
                    hooks.append(m.register_forward_hook(
                        lambda mod, args, output, n=n: rec.setdefault(f"{n}/spikes", []).append(output[0].clone())))
            state = None
            for t in range(x.shape[1]):
                _, state = net(x[:, t], state)
        elif peer == "sinabs":
            import sinabs

            with _no_type_inference():
                net = sinabs.from_nir(graph, batch_size=x.shape[0])
            for n, m in net.named_modules():
                if type(m).__name__ in ("IAFSqueeze", "LIFSqueeze"):
                    m.register_forward_hook(
                        lambda mod, args, output, n=n: rec.setdefault(f"{n}/spikes", []).append(
                            output.reshape(x.shape[0], x.shape[1], *output.shape[1:]).transpose(0, 1)))
            net(x.flatten(0, 1))  # sinabs's Squeeze layers take (N·T, ...)
            rec = {k: [torch.cat(v, 0)] if len(v) > 1 else v for k, v in rec.items()}
        else:
            raise SystemExit(f"unknown peer {peer!r}")
    arrays = {k: (torch.stack(v) if len(v) > 1 else v[0]).numpy() for k, v in rec.items()}
    np.savez(out, **arrays)


def peer_versions() -> dict:
    import importlib.metadata as md

    found = {}
    for dist in ("snntorch", "norse", "sinabs", "nir", "nirtorch", "torch"):
        try:
            found[dist] = md.version(dist)
        except md.PackageNotFoundError:
            found[dist] = None
            continue
        source = md.distribution(dist).read_text("direct_url.json")
        if found[dist] == "0.0.0" and source:  # built from an sdist without version metadata (Norse 1.1.0's)
            found[dist] = f"0.0.0 (installed from {json.loads(source).get('url', '?').rsplit('/', 1)[-1]})"
    return found


def peers_main(argv: list[str]) -> None:
    if argv and argv[0] == "reverse":
        peer_reverse(Path(argv[1]), Path(argv[2]), Path(argv[3]), argv[4])
        return
    out = Path(argv[0]) if argv else CACHE
    out.mkdir(parents=True, exist_ok=True)
    meta = {"versions": peer_versions()}
    meta.update(peer_snntorch(out))
    for peer, keys in ((peer_norse, ("norse_lif", "norse_li", "norse_cubalif")), (peer_sinabs, ("sinabs_expleak",))):
        try:
            meta.update(peer(out))
        except ImportError as exc:
            meta.update({k: {"skipped": f"{peer.__name__[5:]} is not installed ({exc})"} for k in keys})
    (out / "peers.json").write_text(json.dumps(meta, indent=1))


# -- spikeforge's side (.venv) ---------------------------------------------------------------------

def run_peers(out: Path = CACHE, *args: str) -> dict:
    """Run the peer side in ``.venv-bench``; its metadata (versions, timings, dt)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(PEER_PYTHON), str(Path(__file__).resolve()), "peers", str(out), *args], check=True,
                   cwd=ROOT, capture_output=True, text=True)
    return json.loads((out / "peers.json").read_text())


def traces(net, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every neuron layer's spikes and membrane potential (after the reset), step by step,
    (T, N, ...), from spikeforge's simulator (the membrane replayed through the one neuron kernel
    from the current the simulator fed the layer); a read-out's membrane is its output."""
    import torch

    from spikeforge.sim import simulator
    from spikeforge.sim.neuron import initial_state, neuron_params, neuron_step

    c = simulator.compiled(net, False)
    t = x.shape[1]
    values: dict[str, torch.Tensor] = {}  # copies: a neuron layer may overwrite its input with its spikes

    def observe(node, ins, value):
        data = value.data if value.mode == "temporal" else value.data.expand(t, *value.data.shape)
        values[node.name] = data.clone()

    simulator.run_batch(c, torch.as_tensor(x), t, torch.tensor([t]), lambda n, v: v.data, observe=observe)
    seen: dict[str, np.ndarray] = {}
    for node in (n for n in net.nodes if n.is_neuron):
        if not node.spiking:
            seen[f"{node.name}/v"] = values[node.name].numpy()
            continue
        current = values[node.inputs[0]]
        params = neuron_params(node, current.ndim - 1)
        state = initial_state(params, torch.empty_like(current[0]))
        vs = []
        for step in range(t):
            _, state = neuron_step(state, current[step], params)
            vs.append(state.v)
        seen[f"{node.name}/v"] = torch.stack(vs).numpy()
        seen[f"{node.name}/spikes"] = values[node.name].numpy()
    return seen


def seconds_per_batch(net, x: np.ndarray) -> float:
    from spikeforge.sim.simulator import simulate

    return _fastest(lambda: simulate(net, x, timesteps=x.shape[1], batch_size=x.shape[0], counters=False))


def compare(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], pairs: dict[str, str]) -> dict:
    """Spike and membrane agreement, layer by layer: ``pairs`` maps our layer to theirs."""
    report = {}
    for mine, peer in pairs.items():
        row = {}
        if f"{mine}/spikes" in ours:  # a read-out has none
            s_ours, s_peer = ours[f"{mine}/spikes"], theirs[f"{peer}/spikes"].reshape(ours[f"{mine}/spikes"].shape)
            row = {"spikes": int(s_ours.sum()), "spike_mismatches": int((s_ours != s_peer).sum())}
        if f"{peer}/v" in theirs and f"{mine}/v" in ours:
            v_peer = theirs[f"{peer}/v"].reshape(ours[f"{mine}/v"].shape)
            row["v_max_abs_diff"] = float(np.abs(ours[f"{mine}/v"] - v_peer).max())
            row["v_scale"] = float(np.abs(v_peer).max())
        report[mine] = row
    return report


#: The peers' files, in the order :func:`forward` reads them.
FORWARD = ("snntorch_conv", "snntorch_recurrent", "snntorch_synaptic", "norse_lif",
           "norse_li", "norse_cubalif", "norse_cubalif_w_in", "sinabs_expleak")


def norse_w_in(path: Path, dt: float):
    r"""Norse's CubaLIF file with ``w_in = τ_syn/dt`` written in, which Norse's writer leaves at 1:
    Norse adds its input to the synaptic current unscaled (a current jump), where NIR's
    :math:`\tau_\mathrm{syn}\, di/dt = -i + w_\mathrm{in} x` scales it by :math:`\Delta t/\tau_\mathrm{syn}`."""
    import nir

    graph = nir.read(path, type_check=False)  # Norse's types fail nir's inference (so does read_nir's first try)
    for node in graph.nodes.values():
        if isinstance(node, nir.CubaLIF):
            node.w_in = np.asarray(node.tau_syn, np.float64) / dt
    return graph


def forward(out: Path, meta: dict) -> dict:
    """Each peer-trained file imported into spikeforge and run on the peer's inputs."""
    from spikeforge.frontends.nir import from_nir, read_nir

    results = {}
    for key in FORWARD:
        base = key.removesuffix("_w_in")
        if "skipped" in meta.get(base, {"skipped": "not run"}):
            results[key] = meta.get(base, {"skipped": "not run"})
            continue
        peer = dict(np.load(out / f"{base}.npz"))
        dt, reset = meta[base]["dt"], meta[base].get("reset", "nir")
        net = from_nir(norse_w_in(out / f"{base}.nir", dt), dt=dt, name=key) if key != base else \
            read_nir(out / f"{key}.nir", dt=dt, reset=reset)
        neurons = [n.name for n in net.nodes if n.is_neuron]
        ours = traces(net, peer["x"])
        pairs = dict(zip(neurons, meta[base]["layers"]))
        ours_s = seconds_per_batch(net, peer["x"])
        results[key] = {"layers": compare(ours, peer, pairs), "kinds": [type(net.node(n)).__name__ for n in neurons],
                        "peer_seconds_per_batch": meta[base]["seconds_per_batch"],
                        "spikeforge_seconds_per_batch": ours_s,
                        "speedup": meta[base]["seconds_per_batch"] / ours_s, "T": T, "batch": BATCH}
    return results


def reverse_nets():
    """spikeforge networks exported for the peers' readers: LIF MLPs for snnTorch (its reader maps
    LIF to its Leaky; IF to a Leaky of beta 0.9), IF MLPs with NIR's reset for Norse (whose reader
    ignores LIF's ``r`` and flattens from the batch dimension), and a convolutional IF net resetting
    by subtraction for sinabs, with weights small enough that one step never brings two spikes and
    the potential never goes below −θ (sinabs's MultiSpike and its ``min_v_mem`` clamp)."""
    from spikeforge.ir import network as ir

    rng = np.random.default_rng(SEED)

    def mlp(neuron, **kw):
        return ir.Network((
            ir.Input("x", (), (12,), temporal=True),
            ir.Linear("fc1", ("x",), rng.uniform(-0.2, 0.6, (24, 12)).astype(np.float32),
                      rng.uniform(-0.1, 0.1, 24).astype(np.float32)),
            neuron("n1", ("fc1",), threshold=np.float32(1.0), v_init=0.0, **kw),
            ir.Linear("fc2", ("n1",), rng.uniform(-0.1, 0.4, (5, 24)).astype(np.float32), None),
            neuron("n2", ("fc2",), threshold=np.float32(1.0), v_init=0.0, **kw)), outputs=("n2",), name="mlp")

    conv = ir.Network((
        ir.Input("x", (), (2, 8, 8), temporal=True),
        ir.Conv2d("conv", ("x",), rng.uniform(0, 0.05, (4, 2, 3, 3)).astype(np.float32), None, padding=(1, 1)),
        ir.IF("n1", ("conv",), threshold=np.float32(1.0), v_init=0.0),
        ir.Flatten("flat", ("n1",)),
        ir.Linear("fc", ("flat",), rng.uniform(0.5 / 256, 1 / 256, (5, 256)).astype(np.float32), None),
        ir.IF("n2", ("fc",), threshold=np.float32(1.0), v_init=0.0)), outputs=("n2",), name="conv")
    return {"snntorch": mlp(ir.LIF, beta=0.875, v_reset=0.0), "norse": mlp(ir.IF, v_reset=0.0), "sinabs": conv,
            "snntorch_cubalif": mlp(ir.CubaLIF, alpha=0.75, beta=0.875, v_reset=0.0)}


def reverse(out: Path) -> dict:
    """spikeforge's exports read by each peer's reader: spikes per layer against spikeforge's."""
    import warnings

    from spikeforge.frontends.nir import NIRExportWarning, write_nir

    results = {}
    for key, net in reverse_nets().items():
        peer = key.split("_")[0]  # snntorch_cubalif: a second network for snnTorch's reader
        x = spikes_in(net.input.shape, p=0.3)
        np.savez(out / "reverse_x.npz", x=x)
        path = out / f"spikeforge_for_{key}.nir"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRExportWarning)  # sinabs's net resets by subtraction, as sinabs
            write_nir(net, path)
        done = subprocess.run([str(PEER_PYTHON), str(Path(__file__).resolve()), "peers", "reverse", str(path),
                               str(out / "reverse_x.npz"), str(out / f"reverse_{key}.npz"), peer],
                              check=False, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            results[key] = {"failed": done.stderr.strip().splitlines()[-1][:200]}
            continue
        theirs = dict(np.load(out / f"reverse_{key}.npz"))
        ours = traces(net, x)
        names = sorted({k.split("/")[0] for k in theirs})
        results[key] = {"layers": compare(ours, theirs, dict(zip(["n1", "n2"], names)))}
    return results


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.common import write_results

    if not PEER_PYTHON.exists():
        sys.exit("skipped: .venv-bench (the peers' environment) is not there")
    meta = run_peers(CACHE)
    figures = {"peer_versions": meta["versions"], "forward": forward(CACHE, meta), "reverse": reverse(CACHE),
               "target": "imported SNN simulates >= 2x as fast as the peer that trained it (same T, batch)"}
    path = write_results("nir_peers", figures)
    print(json.dumps(figures, indent=1, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "peers":
        peers_main(sys.argv[2:])
    else:
        main()
