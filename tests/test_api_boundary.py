"""The public API validates at its boundary (issue 17, item 5).

Every public function carries :func:`spikeforge.api.public`: ``None`` or a wrong type raises
:class:`~spikeforge.errors.ArgumentError` naming the function and the parameter, before any
work. The table of checks is derived from the decorated functions themselves: each row is
(function, valid-arguments builder, parameter), the builder makes a value of the annotated
type for every other parameter (:func:`sample`), so a new public function is tested without
adding a line; :data:`VALID` holds hand-made builders where :func:`sample` cannot guess.

:func:`test_every_public_function_is_decorated` fails for a function in any ``__all__`` (or in
:data:`README_API`) that lacks the decorator, unless :data:`EXEMPT` says why.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import os
import pkgutil
import re
import types
import typing
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

import spikeforge
from spikeforge import api
from spikeforge.api import ArgumentError, accepts, describe, hints_of, is_public, public, public_functions
from spikeforge.errors import SpikeforgeError

MODULES = [importlib.import_module(m.name) for m in pkgutil.walk_packages(spikeforge.__path__, "spikeforge.")]

#: Functions in an ``__all__`` that are deliberately not decorated, and why.
EXEMPT = {
    # inner loops: called per neuron, per link, per actor or per training step
    "spikeforge.mapping.partition.unroll_chain": "per neuron in the greedy partitioner",
    "spikeforge.mapping.partition.chain_sum": "per neuron (fan-in chains)",
    "spikeforge.mapping.connectivity.afferents": "mapping internals, per layer in loops",
    "spikeforge.mapping.connectivity.afferent_delays": "mapping internals, per layer in loops",
    "spikeforge.mapping.connectivity.mapped_layers": "mapping internals",
    "spikeforge.mapping.connectivity.shape3": "per layer in loops",
    "spikeforge.mapping.connectivity.axis_map": "per layer and axis in loops",
    "spikeforge.dataflow.binding.crossbar_name": "per actor",
    "spikeforge.dataflow.binding.link_name": "per channel",
    "spikeforge.dataflow.build.actor_cluster": "per actor",
    "spikeforge.quantize.qat.fake_quantize": "every forward pass of QAT training",
    "spikeforge.quantize.qat.distillation_loss": "every training step of QAT",
    "spikeforge.regularize.percentile": "every training step (regulariser loss)",
    "spikeforge.regularize.percentile_loss": "every training step",
    # plumbing of the CLI and of other functions, not API
    "spikeforge.cli.build_parser": "the CLI: arguments are checked by argparse",
    "spikeforge.cli.main": "the CLI: arguments are checked by argparse",
    "spikeforge.dataflow.report.json_number": "per number of a report",
    "spikeforge.report.progress.sample_progress": "CLI progress bars",
    "spikeforge.explore.report.sweep_table": "table rendering, duck-typed (any result with its attributes)",
}
EXEMPT_MODULES = {
    "spikeforge.outputs": "output-path plumbing used by the writers",
    "spikeforge.api": "the decorator itself",
}

#: Public functions of modules without ``__all__``: the README's API tour and its neighbours.
README_API = [
    "spikeforge.frontends.torch_fx.import_torch",
    "spikeforge.frontends.model_file.load_model",
    "spikeforge.frontends.model_file.save_model",
    "spikeforge.models.build_model",
    "spikeforge.convert.normalise.convert",
    "spikeforge.convert.normalise.activation_scales",
    "spikeforge.models.layers.relu_to_qcfs",
    "spikeforge.convert.calibrate.calibrate_biases",
    "spikeforge.sim.simulator.simulate",
    "spikeforge.sim.simulator.run_ann",
    "spikeforge.sim.simulator.iterate_ann",
    "spikeforge.ir.serialize.load_network",
    "spikeforge.ir.serialize.save_network",
    "spikeforge.ir.serialize.load_metadata",
    "spikeforge.datasets.load_data",
    "spikeforge.datasets.save_data",
    "spikeforge.datasets.digits",
    "spikeforge.datasets.mnist",
    "spikeforge.datasets.cifar10",
    "spikeforge.runtime.admission.Runtime.admit",
    "spikeforge.runtime.admission.Runtime.release",
    "spikeforge.runtime.admission.Design.from_schedule",
    "spikeforge.ir.hardware.Hardware.with_chips",
    "spikeforge.dataflow.binding.Platform.from_hardware",
    "spikeforge.quantize.integer_sim.IntegerResult.accuracy",
]

#: The calls of issue 17 that raised a bare AttributeError/TypeError.
ISSUE_CALLS = [
    "spikeforge.frontends.torch_fx.import_torch", "spikeforge.convert.normalise.convert",
    "spikeforge.sim.simulator.simulate", "spikeforge.mapping.partition.partition",
    "spikeforge.mapping.place.place", "spikeforge.hardware.spec.load_hardware",
    "spikeforge.dataflow.sdf3.read_sdf3", "spikeforge.dataflow.analysis.throughput",
    "spikeforge.mapping.report.traffic_summary", "spikeforge.dataflow.build.build_sdfg",
    "spikeforge.ir.serialize.load_network", "spikeforge.ir.serialize.save_network",
    "spikeforge.explore.codesign.pareto_front",
]


def _resolve_name(qualified: str) -> Any:
    """``module.function`` or ``module.Class.method`` -> the object (a raw classmethod as such)."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)
        return obj
    raise LookupError(qualified)


def _exported_functions() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in MODULES:
        if module.__name__ in EXEMPT_MODULES:
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("spikeforge"):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


# -- coverage ------------------------------------------------------------------------------


def test_every_public_function_is_decorated():
    missing = [name for name, obj in _exported_functions().items() if not is_public(obj) and name not in EXEMPT]
    missing += [name for name in README_API if not is_public(_resolve_name(name))]
    assert not missing, f"public functions without @public (decorate them, or say why in EXEMPT): {missing}"


def test_exemptions_are_current():
    exported = _exported_functions()
    stale = [name for name in EXEMPT if name not in exported or is_public(exported[name])]
    assert not stale, f"EXEMPT names functions that are no longer exported or are decorated: {stale}"


def test_the_issue_calls_are_decorated():
    assert all(is_public(_resolve_name(name)) for name in ISSUE_CALLS)


# -- annotations ---------------------------------------------------------------------------

PUBLIC = sorted(public_functions().items())


@pytest.mark.parametrize("name, func", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_annotations_resolve_and_defaults_fit(name, func):
    hints, unresolved = hints_of(func)
    assert not unresolved, f"{name}: annotations that do not resolve: {unresolved}"
    for pname, param in inspect.signature(func).parameters.items():
        if pname in hints and param.default is not inspect.Parameter.empty:
            assert accepts(param.default, hints[pname]), \
                f"{name}: default {param.default!r} of {pname!r} contradicts its annotation {describe(hints[pname])}"


# -- valid values of an annotated type, wrong values ---------------------------------------


def _tiny_net():
    from spikeforge.ir import network as ir

    return ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.eye(2, dtype=np.float32)),
                       ir.ReLU("act", ("fc",))), ("act",))


def _graph():
    from spikeforge.ir.dataflow import Actor, DataflowGraph

    return DataflowGraph((Actor("A", 1),), (), name="app")


def _instance(cls: type) -> Any:
    """A value of a spikeforge class: a real one where cheap, else an uninitialised instance
    (the boundary rejects the bad argument before the body could look at the others)."""
    from spikeforge.dataflow.binding import Platform
    from spikeforge.hardware import load_hardware
    from spikeforge.hardware.accelerator import AcceleratorSpec, load_accelerator
    from spikeforge.ir.dataflow import DataflowGraph
    from spikeforge.ir.hardware import Hardware
    from spikeforge.ir.network import Network
    from spikeforge.runtime.admission import Runtime

    real = {
        Network: _tiny_net,
        Hardware: lambda: load_hardware("loihi"),
        AcceleratorSpec: lambda: load_accelerator("pynq-z2-accel"),
        DataflowGraph: _graph,
        Platform: lambda: Platform(2),
        Runtime: lambda: Runtime(Platform(2)),
    }
    if cls in real:
        return real[cls]()
    if hasattr(cls, "model_construct"):  # pydantic
        return cls.model_construct()
    return cls.__new__(cls)


def sample(hint: Any) -> Any:
    """A value that satisfies ``hint``."""
    if hint is Any or hint is object:
        return 1
    if hint is None or hint is type(None):
        return None
    if hint == npt.ArrayLike:
        return [0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return sample(next((a for a in args if a is not type(None)), type(None)))
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Annotated:
        return sample(args[0])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample(args[0]),)
        return tuple(sample(a) for a in args)
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection):
        return [sample(args[0])] if args else []
    if origin in (dict, collections.abc.Mapping):
        return {sample(args[0]): sample(args[1])} if args else {}
    if origin is collections.abc.Callable:
        return lambda *a, **k: None
    if origin is os.PathLike:
        return Path("x")
    scalars = {bool: True, int: 1, float: 1.0, complex: 1.0, str: "x", bytes: b"x", list: [], tuple: (),
               dict: {}, Fraction: Fraction(1), np.ndarray: np.zeros((1, 2), np.float32),
               torch.Tensor: torch.zeros(1, 2), Path: Path("x"), os.PathLike: Path("x")}
    if hint in scalars:
        return scalars[hint]
    if hint is np.random.Generator:
        return np.random.default_rng(0)
    if isinstance(hint, type) and issubclass(hint, nn.Module):
        return nn.Sequential()
    if isinstance(hint, type) and hint.__module__.startswith("rich"):
        from rich.console import Console
        from rich.progress import Progress

        return {"Console": lambda: Console(quiet=True), "Progress": lambda: Progress(disable=True)}[hint.__name__]()
    if isinstance(hint, type):
        return _instance(hint)
    raise NotImplementedError(f"no sample for {hint!r}")


def wrong_value(hint: Any) -> Any:
    """A value of a clearly wrong type for ``hint`` (None when every candidate fits)."""
    for value in ("not-a-value", {"key": 1}, object()):
        if not accepts(value, hint):
            return value
    return None


#: Hand-made builders of valid arguments (parameter -> value), where :func:`sample` cannot guess.
VALID: dict[str, Any] = {}


def _target(func: Any) -> Any:
    """What to call: the module function, a bound method of a sample instance, or the classmethod."""
    qualname = func.__qualname__
    if "." not in qualname:
        return func
    owner = _resolve_name(f"{func.__module__}.{qualname.rsplit('.', 1)[0]}")
    if isinstance(owner.__dict__[func.__name__], (classmethod, staticmethod)):
        return getattr(owner, func.__name__)
    return getattr(_instance(owner), func.__name__)


def _valid_arguments(name: str, func: Any) -> dict[str, Any]:
    if name in VALID:
        return VALID[name]()
    hints, _ = hints_of(func)
    args = {}
    for pname, param in inspect.signature(func).parameters.items():
        if pname in ("self", "cls") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            args[pname] = sample(hints.get(pname, Any))
    return args


def _call(func: Any, arguments: dict[str, Any]) -> Any:
    """Call ``func`` with ``arguments`` by name."""
    return _target(func)(**arguments)


def _cases() -> tuple[list, list]:
    none_cases, wrong_cases = [], []
    for name, func in PUBLIC:
        hints, _ = hints_of(func)
        for pname, param in inspect.signature(func).parameters.items():
            if pname not in hints or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.default is inspect.Parameter.empty and not accepts(None, hints[pname]):
                none_cases.append(pytest.param(name, func, pname, id=f"{name}-{pname}"))
            if wrong_value(hints[pname]) is not None:
                wrong_cases.append(pytest.param(name, func, pname, id=f"{name}-{pname}"))
    return none_cases, wrong_cases


NONE_CASES, WRONG_CASES = _cases()


def test_samples_fit_their_annotations():
    for name, func in PUBLIC:
        hints, _ = hints_of(func)
        for pname, value in _valid_arguments(name, func).items():
            if pname in hints:
                assert accepts(value, hints[pname]), (name, pname)


@pytest.mark.parametrize("name, func, param", NONE_CASES)
def test_none_for_a_required_parameter_is_named(name, func, param):
    arguments = _valid_arguments(name, func) | {param: None}
    with pytest.raises(ArgumentError, match=rf"^{re.escape(func.__qualname__)}\(\): parameter '{param}' must be .*, "
                                            r"got NoneType$"):
        _call(func, arguments)


@pytest.mark.parametrize("name, func, param", WRONG_CASES)
def test_a_wrong_type_is_named(name, func, param):
    hints, _ = hints_of(func)
    bad = wrong_value(hints[param])
    arguments = _valid_arguments(name, func) | {param: bad}
    with pytest.raises(ArgumentError, match=rf"^{re.escape(func.__qualname__)}\(\): parameter '{param}' must be .*, "
                                            rf"got {type(bad).__qualname__}$"):
        _call(func, arguments)


# -- the messages of the issue's calls -----------------------------------------------------


def test_messages_name_function_parameter_and_types():
    from spikeforge.convert.normalise import convert
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.explore.codesign import pareto_front
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.hardware.spec import load_hardware
    from spikeforge.ir.serialize import load_network, save_network
    from spikeforge.mapping.partition import partition
    from spikeforge.mapping.place import place
    from spikeforge.mapping.report import traffic_summary
    from spikeforge.sim.simulator import simulate

    array = "np.ndarray | torch.Tensor | list | tuple"
    cases = [
        (lambda: convert(None), "convert(): parameter 'ann' must be Network, got NoneType"),
        (lambda: convert("net.json"), "convert(): parameter 'ann' must be Network, got str"),
        (lambda: convert(_tiny_net(), {"x": 1}), f"convert(): parameter 'calib' must be {array} | None, got dict"),
        (lambda: simulate(_tiny_net(), None, timesteps=4), f"simulate(): parameter 'x' must be {array}, got NoneType"),
        (lambda: simulate(_tiny_net(), np.ones((1, 2)), timesteps="4"),
         "simulate(): parameter 'timesteps' must be int, got str"),
        (lambda: import_torch(None, (2,)), "import_torch(): parameter 'model' must be torch.nn.Module, got NoneType"),
        (lambda: load_hardware(None),
         "load_hardware(): parameter 'name_or_path' must be str | os.PathLike[str] | Hardware, got NoneType"),
        (lambda: partition(_tiny_net(), None, "loihi"), "partition(): parameter 'profile' must be Profile, got NoneType"),
        (lambda: place(None, "loihi"), "place(): parameter 'partition' must be Partition, got NoneType"),
        (lambda: traffic_summary("placement.json"), "traffic_summary(): parameter 'pl' must be Placement, got str"),
        (lambda: throughput(None), "throughput(): parameter 'graph' must be DataflowGraph, got NoneType"),
        (lambda: read_sdf3(None), "read_sdf3(): parameter 'source' must be str | os.PathLike, got NoneType"),
        (lambda: load_network(3), "load_network(): parameter 'path' must be str | os.PathLike, got int"),
        (lambda: save_network(_tiny_net(), None),
         "save_network(): parameter 'path' must be str | os.PathLike, got NoneType"),
        (lambda: pareto_front(None),
         "pareto_front(): parameter 'evaluations' must be Iterable[Evaluation], got NoneType"),
    ]
    for call, message in cases:
        with pytest.raises(ArgumentError) as info:
            call()
        assert str(info.value) == message
        assert isinstance(info.value, SpikeforgeError) and isinstance(info.value, TypeError)


def test_missing_and_unexpected_arguments_are_argument_errors():
    from spikeforge.convert.normalise import convert
    from spikeforge.sim.simulator import simulate

    with pytest.raises(ArgumentError, match=r"^simulate\(\): missing a required argument: 'timesteps'$"):
        simulate(_tiny_net(), np.ones((1, 2)))
    with pytest.raises(ArgumentError, match=r"^convert\(\): got an unexpected keyword argument 'statistics'$"):
        convert(_tiny_net(), np.ones((1, 2)), statistics="max")


def test_methods_name_their_class():
    from spikeforge.dataflow.binding import Platform
    from spikeforge.hardware import load_hardware
    from spikeforge.runtime.admission import Runtime

    with pytest.raises(ArgumentError, match=r"^Runtime\.release\(\): parameter 'name' must be str, got NoneType$"):
        Runtime(Platform(2)).release(None)
    with pytest.raises(ArgumentError, match=r"^Platform\.from_hardware\(\): parameter 'hw' must be .*, got NoneType$"):
        Platform.from_hardware(None)
    with pytest.raises(ArgumentError, match=r"^Runtime\.admit\(\): parameter 'crossbars' must be int \| None, got str$"):
        Runtime(Platform(2)).admit(_graph(), crossbars="2")
    assert load_hardware("loihi").with_chips(np.int64(2)).board.chips == 2


def test_own_checks_keep_their_specific_errors():
    """Parameters a function checks itself keep their documented error, which names them."""
    from spikeforge.dataflow.binding import Platform
    from spikeforge.errors import AdmissionError, InvalidDataError, QuantizationError
    from spikeforge.hardware import estimate_energy, load_hardware
    from spikeforge.quantize import quantize
    from spikeforge.runtime.admission import Runtime

    counts = dict(spikes=1, synops=1, neuron_updates=1, hops=1, interchip_transfers=0, time_s=1e-3, cores_used=1,
                  chips_used=1)
    with pytest.raises(InvalidDataError, match="neuron_updates = None: must be a number"):
        estimate_energy(load_hardware("loihi"), **counts | {"neuron_updates": None})
    with pytest.raises(ArgumentError, match="parameter 'hw' must be Hardware, got NoneType"):
        estimate_energy(None, **counts)
    with pytest.raises(QuantizationError, match="weight_bits=None: must be an integer"):
        quantize(_tiny_net(), weight_bits=None)
    with pytest.raises(AdmissionError, match="must be a DataflowGraph, got NoneType"):
        Runtime(Platform(2)).admit(None)


# -- valid calls go through unchanged ------------------------------------------------------


def test_valid_calls_through_the_decorator_match_the_undecorated_function():
    from spikeforge.convert.normalise import convert
    from spikeforge.sim.simulator import simulate

    ann = _tiny_net()
    calib = np.random.default_rng(0).random((16, 2)).astype(np.float32)
    labels = np.zeros(16, np.int64)
    snn = convert(ann, calib, statistic="max")
    bare = convert.__wrapped__(ann, calib, statistic="max")
    assert [type(n).__name__ for n in snn.nodes] == ["Input", "Linear", "IF"]
    assert np.array_equal(snn.node("fc").weight, bare.node("fc").weight)
    assert np.array_equal(snn.node("act").threshold, bare.node("act").threshold)
    ref = simulate.__wrapped__(snn, calib, timesteps=8, checkpoints=[4, 8], labels=labels)
    # array-likes where arrays go, numpy integers where ints go
    for x in (calib, torch.as_tensor(calib), calib.tolist()):
        r = simulate(snn, x, timesteps=np.int64(8), checkpoints=[4, np.int32(8)], labels=labels)
        assert r.accuracy == ref.accuracy
        assert r.profile.spikes_per_sample == ref.profile.spikes_per_sample


def test_errors_from_inside_the_body_pass_through_unchanged():
    @public
    def length(x: int) -> int:
        return len(x)  # a TypeError of the body, not of the call

    with pytest.raises(TypeError) as info:
        length(3)
    assert not isinstance(info.value, ArgumentError)


def test_numbers_follow_the_numeric_tower_with_numpy_scalars():
    @public
    def f(i: int, x: float, c: complex = 0j, *rest: int, **named: float) -> tuple:
        return i, x, c, rest, named

    assert f(np.int32(1), np.float32(2), np.int8(3), True, np.int64(4), a=1, b=np.float16(0.5))[0] == 1
    with pytest.raises(ArgumentError, match=r"parameter 'i' must be int, got float"):
        f(1.0, 1.0)
    with pytest.raises(ArgumentError, match=r"parameter '\*rest' \(item 1\) must be int, got str"):
        f(1, 1.0, 0j, 2, "3")
    with pytest.raises(ArgumentError, match=r"parameter 'b' must be float, got str"):
        f(1, 1.0, b="x")


def test_own_checks_must_name_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        @public(own_checks="y")
        def f(x: int) -> int:
            return x


def test_describe():
    from spikeforge.ir.network import Network

    assert describe(Network | None) == "Network | None"
    assert describe(api.ArrayLike) == "np.ndarray | torch.Tensor | list | tuple"
    assert describe(typing.Sequence[int]) == "Sequence[int]"
    assert describe(tuple[int, ...]) == "tuple[int, ...]"
    assert describe(typing.Literal["a", "b"]) == "'a' | 'b'"
    assert describe(npt.ArrayLike) == "array-like"
