"""Layering: no module imports a later stage of the pipeline (lazy imports included).

Stages in order: taxonomy -> mentor -> search -> discovery -> repair -> evaluation -> report.
Beside them, below every stage: records, config, errors, text, data, store, backends, judges,
converters, training, the embedded default's builders and the ``sim:`` arena and backend. The
:class:`~ares_rlhf.run.Run` sits just below discovery (stages receive it); the search benchmark
(``sim.bench``, which drives the discovery loop) above discovery; the pipeline and the CLI on top.
Imports under ``if TYPE_CHECKING:`` do not execute and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ares_rlhf"

LAYERS: list[tuple[str, int]] = [
    # leaves and shared plumbing
    ("ares_rlhf", 0),
    ("ares_rlhf.errors", 0),
    ("ares_rlhf.records", 0),
    ("ares_rlhf.runtime", 0),
    ("ares_rlhf.observers", 0),
    ("ares_rlhf.inputs", 0),
    ("ares_rlhf.text", 0),
    ("ares_rlhf.config", 1),
    ("ares_rlhf.data", 1),
    ("ares_rlhf.store", 1),
    ("ares_rlhf.split", 1),
    ("ares_rlhf.backends", 2),
    ("ares_rlhf.taxonomy", 2),
    ("ares_rlhf.converters", 2),
    ("ares_rlhf.judges", 3),
    ("ares_rlhf.training", 3),
    ("ares_rlhf.sim", 3),
    ("ares_rlhf.embedded", 4),
    # the stages, in pipeline order
    ("ares_rlhf.mentor", 5),
    ("ares_rlhf.search", 6),
    ("ares_rlhf.run", 7),
    ("ares_rlhf.discovery", 8),
    ("ares_rlhf.sim.bench", 9),
    ("ares_rlhf.sim.oracle", 9),
    ("ares_rlhf.repair", 10),
    ("ares_rlhf.evaluation", 11),
    ("ares_rlhf.report", 12),
    # orchestration
    ("ares_rlhf.console", 13),
    ("ares_rlhf.pipeline", 13),
    ("ares_rlhf.cli", 14),
    ("ares_rlhf.testing", 14),
]


def layer(module: str) -> int:
    """The layer of the longest matching prefix in :data:`LAYERS`."""
    best = ("", -1)
    for prefix, rank in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best[0]):
            best = (prefix, rank)
    assert best[1] >= 0, f"{module} has no layer; add it to LAYERS"
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped |= {id(n) for n in ast.walk(child)}
    return skipped


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``ares_rlhf`` import that executes (top level or lazy)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("ares_rlhf"):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ares_rlhf")]
    return found


def test_no_module_imports_a_later_stage() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        own = layer(name)
        for line, target in imports(path):
            if layer(target) > own:
                violations.append(f"{name}:{line} imports {target}")
    assert not violations, violations


def test_the_layer_map_knows_every_package() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer(module_name(path))


def test_no_module_is_over_650_lines() -> None:
    long = {
        module_name(p): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650
    }
    assert not long, long
