"""spikeforge's packages import each other in pipeline order: a module imports only modules of
its own layer or of a lower one.

Every import counts, at module level, inside a function, or under ``if TYPE_CHECKING:``
(:func:`spikeforge.api.public` resolves those annotations at the first call, so they run too).

Layers, lowest first (:data:`LAYERS`):

errors
    ``spikeforge.errors`` and the package root, which every import runs.
base utilities
    ``api`` (the ``@public`` decorator), ``resources`` (memory and input-file checks),
    ``outputs`` (every write: atomic files and folders), ``fileio`` (every generic read:
    versioned JSON, npz archives) and ``strategies`` (the registry of named strategies): they
    import only errors and each other.
ir
    The frozen intermediate representations. ``ir`` imports nothing of spikeforge but errors and
    the base utilities.
hardware
    Crossbar chips and the accelerator: specs, presets, geometry, energy and cost models.
inputs
    What a user brings: ``frontends`` (torch import, model files), ``models`` (the zoo and its
    torch layers, QCFS among them), ``datasets`` and ``events`` (event-camera recordings).
sim
    The simulator. It sits below ``convert`` and ``quantize`` because both run it (data-based
    normalisation, bias calibration, the integer simulation records its activity).
convert
    ANN → SNN conversion, and the training helpers around it (``train``, ``regularize``).
quantize
    Integer networks; ``loaders`` (a saved folder or a model file, quantised or not) with it.
mapping, dataflow, runtime
    Partition and place; the dataflow analysis; run-time admission.
backends, neurobench
    Checks of spikeforge's figures from outside: ``backends`` runs a placed network on another
    simulator (SANA-FE, an optional extra imported only when it runs); ``neurobench`` reports a
    simulation in NeuroBench's metrics and layout. Both read placements and simulations.
pipeline
    ``pipeline`` and ``artifact``: the compile passes and what they write. Below ``explore`` and
    ``apps``, which drive those passes (co-design maps every crossbar design point; the app suite
    compiles each app).
explore, apps
    Co-design search; the application suite.
report
    Presentation (rich tables, consoles, progress bars), used only by the commands and the demo.
demo, cli
    The demo, then the command line: the ``spikeforge.cli`` package, every command in it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Layers, lowest first; a name covers the module and everything below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("spikeforge", "spikeforge.errors"),
    ("spikeforge.api", "spikeforge.resources", "spikeforge.outputs", "spikeforge.fileio", "spikeforge.strategies"),
    ("spikeforge.ir",),
    ("spikeforge.hardware",),
    ("spikeforge.frontends", "spikeforge.models", "spikeforge.datasets", "spikeforge.events"),
    ("spikeforge.sim",),
    ("spikeforge.convert", "spikeforge.train", "spikeforge.regularize"),
    ("spikeforge.quantize", "spikeforge.loaders"),
    ("spikeforge.mapping",),
    ("spikeforge.dataflow",),
    ("spikeforge.runtime",),
    ("spikeforge.backends", "spikeforge.neurobench"),
    ("spikeforge.pipeline", "spikeforge.artifact"),
    ("spikeforge.explore",),
    ("spikeforge.apps",),
    ("spikeforge.report",),
    ("spikeforge.demo",),
    ("spikeforge.cli",),
)
TOP = len(LAYERS) - 1

#: Upward imports kept on purpose: (importer, imported) -> why.
ALLOWED = {
    ("spikeforge.runtime.admission", "spikeforge.artifact"):
        "Runtime.admit accepts a compiled Artifact (duck-typed through its design()); the import "
        "only names the type in the annotation, under TYPE_CHECKING",
}


def layer_of(module: str) -> int:
    """The layer of ``module``: that of the longest name in :data:`LAYERS` covering it."""
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            covers = module == name or (name != "spikeforge" and module.startswith(name + "."))
            if covers and (best is None or len(name) > len(best[1])):
                best = (i, name)
    if best is None:
        raise LookupError(f"{module}: in no layer; add it to LAYERS in {Path(__file__).name}")
    return best[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "spikeforge").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """``(line, imported module)`` of every spikeforge import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).rstrip(".")
            # ``from spikeforge.ir import network`` imports spikeforge.ir.network
            found += [(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
                      for alias in node.names]
    return [(line, name) for line, name in found if name == "spikeforge" or name.startswith("spikeforge.")]


MODULES = modules()


def upward_imports() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        own = layer_of(module)
        for line, imported in imports(module, path):
            if layer_of(imported) > own and (module, imported) not in ALLOWED:
                bad.append(f"{path.relative_to(SRC.parent)}:{line}: {module} (layer {own}) imports "
                           f"{imported} (layer {layer_of(imported)})")
    return bad


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_follow_the_layers():
    bad = upward_imports()
    assert not bad, "imports of a higher layer:\n" + "\n".join(bad)


def test_allowed_exceptions_are_still_needed():
    used = {(m, i) for m, p in MODULES.items() for _, i in imports(m, p)}
    assert set(ALLOWED) <= used, f"no longer imported, drop from ALLOWED: {set(ALLOWED) - used}"


@pytest.mark.parametrize("module, layer", [
    ("spikeforge.ir.network", 2), ("spikeforge.hardware.spec", 3), ("spikeforge.cli", TOP),
    ("spikeforge.cli.explore", TOP), ("spikeforge.loaders", 7), ("spikeforge", 0),
])
def test_layer_of(module, layer):
    assert layer_of(module) == layer


def test_ir_imports_only_errors_and_base_utilities():
    base = set(LAYERS[0]) | set(LAYERS[1])
    for module, path in MODULES.items():
        if module.startswith("spikeforge.ir."):
            for line, imported in imports(module, path):
                assert imported.startswith("spikeforge.ir.") or imported in base, f"{path}:{line}: {imported}"
