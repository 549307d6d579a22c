"""The engine's import structure: no import circle, and no module importing from a layer
above its own (the order docs/architecture.md draws under "Layers").

The imports are read from the source (AST), so this sees every module, whether a test
happens to import it or not; `if TYPE_CHECKING:` imports are not imports at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
ARCHITECTURE = ENGINE.parent / "docs" / "architecture.md"

# Lowest first. A module belongs to the longest prefix listed (`engine` alone is the
# package's own __init__, which only holds the version).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("engine", "engine.errors", "engine.events", "engine.trainer.config", "engine.halfblocks"),
    ("engine.ops",),
    (
        "engine.datasets",
        "engine.recipes",
        "engine.models",
        "engine.trainer.device",
        "engine.telemetry",
    ),  # fmt: skip
    ("engine.trainer.validation", "engine.presets"),
    ("engine.runs",),
    ("engine.transfer",),
    ("engine.trainer",),
    ("engine.sweeps",),
    ("engine.use",),
    ("engine.report",),
    ("engine.service",),
    ("engine.cli", "engine.__main__"),
)
# Imports inside a function that reach up, on purpose: the config's own checks look names
# up in the registries (and the validation module) only when a config is validated, and
# validation looks an `init_from=torchvision:NAME` up in the transfer's table of hub models.
LAZY_UPWARD = {
    ("engine.trainer.config", "engine.trainer.validation"),
    ("engine.trainer.config", "engine.datasets"),
    ("engine.trainer.config", "engine.models"),
    ("engine.trainer.validation", "engine.transfer"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ENGINE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ENGINE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported engine module, at module level?) for every run-time import in `path`;
    `from pkg import sub` counts as importing the submodule when it is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, top) for a in node.names if a.name.startswith("engine"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in known else node.module, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    for statement in tree.body:
        visit(statement, True)
    return found


def layer_of(module: str) -> int:
    best, layer = -1, len(LAYERS) - 1
    for index, names in enumerate(LAYERS):
        for name in names:
            prefix_len = len(name)
            if (module == name or module.startswith(name + ".")) and prefix_len > best:
                best, layer = prefix_len, index
    return layer


def owner(module: str) -> str:
    """The layer entry a module belongs to (for naming allowed exceptions)."""
    candidates = [n for names in LAYERS for n in names if module == n or module.startswith(n + ".")]
    return max(candidates, key=len) if candidates else "engine"


def documented_layers() -> list[set[str]]:
    """The layers drawn under "## Layers" in docs/architecture.md, lowest first: each line
    of the drawing that starts with a number opens a layer, the next lines continue it, and
    the modules are the names in the left column."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    drawing = text.split("## Layers", 1)[1].split("```", 2)[1]
    layers: dict[int, set[str]] = {}
    current = -1
    for line in drawing.splitlines():
        row = re.match(r"(\d+)?\s*((?:engine[\w.]*,? ?)*)", line)
        if row.group(1):
            current = int(row.group(1))
        names = re.findall(r"engine[\w.]*\w", row.group(2))
        if current >= 0 and names:
            layers.setdefault(current, set()).update(names)
    return [layers[index] for index in sorted(layers)]


def test_the_documented_layers_are_the_ones_checked():
    """docs/architecture.md draws exactly the order these tests enforce (so neither drifts)."""
    checked = [set(names) - {"engine", "engine.__main__"} for names in LAYERS]
    assert documented_layers() == checked


def test_every_engine_module_is_in_a_layer():
    for module in modules():
        assert any(module == n or module.startswith(n + ".") for names in LAYERS for n in names)


def test_no_module_imports_from_a_layer_above_its_own():
    known = set(modules())
    upward = []
    for module, path in modules().items():
        for target, top in imports(path, known):
            if layer_of(target) <= layer_of(module):
                continue
            if not top and (owner(module), owner(target)) in LAZY_UPWARD:
                continue
            upward.append(f"{module} -> {target}" + ("" if top else " (in a function)"))
    assert upward == []


def test_no_import_circle_at_module_level():
    """Module-level imports form no cycle. Importing `a.b.c` first imports its packages `a`
    and `a.b`, so those count as imported too — except a module's own packages, which are
    already being imported when it runs."""
    known = set(modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules().items():
        targets = set()
        for target, top in imports(path, known):
            if not top:
                continue
            parts = target.split(".")
            for cut in range(1, len(parts) + 1):
                parent = ".".join(parts[:cut])
                own_package = module == parent or module.startswith(parent + ".")
                if parent in known and parent != module and not own_package:
                    targets.add(parent)
        graph[module] = targets

    state: dict[str, int] = {}
    stack: list[str] = []

    def cycle_from(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = cycle_from(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            assert cycle_from(module) is None
