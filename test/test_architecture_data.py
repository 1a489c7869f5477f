"""The layering of ``dsc_core/data`` (docs/architecture.md, "Rooms"), as a test that fails when a module breaks it.

``types.py`` holds the pair types and imports no other data module; the loaders (``kitti``, ``middlebury``,
``folders``, ``bags``) import ``types.py``, never ``pairs.py``; ``pairs.py`` (``open_pairs``) imports the
loaders, one way. Before the split the loaders took the types from ``pairs.py`` and the two imported each
other. The check reads every import statement of every file under ``dsc_core/data``, also those inside
functions (most imports there are lazy, and a lazy import still closes a cycle), so it needs no import of the
package itself. It lives apart from ``test_architecture.py`` (the rules between ``dsc_core`` and ``dsc_ros``).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (``from a import b`` counts as ``a.b`` too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


#: Loaders that still import ``dsc_core.data.pairs`` for the pair types it re-exports; each should import
#: ``dsc_core.data.types`` instead. The test fails once one no longer does, so that this set only shrinks
#: (it is empty now: every loader takes the pair types from ``dsc_core.data.types``).
DATA_PAIRS_IMPORT_PENDING: set[str] = set()


def _data_import_graph(data_dir: Path) -> dict[str, set[str]]:
    """``dsc_core.data`` module -> the ``dsc_core.data`` modules it imports, at any depth of its code.

    A package stands for its ``__init__.py``. Imports of a module's own ancestor packages are left out: Python
    has imported those before the module runs, so they order nothing (``from dsc_core.data import synthetic``
    in ``pairs.py`` is an edge to ``synthetic``, not to ``dsc_core.data``)."""

    def name_of(f: Path) -> str:
        parts = ("dsc_core", "data") + f.relative_to(data_dir).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    files = {name_of(f): f for f in sorted(data_dir.rglob("*.py")) if f.name != "__main__.py"}
    graph = {}
    for mod, f in files.items():
        deps = set()
        for imp in _imports(f):
            parts = imp.split(".")
            # the longest prefix that is one of our modules (``a.b.Name`` -> ``a.b``)
            target = next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in files), None)
            if target and target != mod and not mod.startswith(target + "."):
                deps.add(target)
        graph[mod] = deps
    return graph


def _data_rule_violations(data_dir: Path, pending=frozenset()) -> list[str]:
    """Breaches of the layering of ``dsc_core/data``: a module other than the package's ``__init__`` that
    imports ``pairs.py`` (the loaders take the pair types from ``types.py``), ``types.py`` importing any other
    data module, or any import cycle among the data modules."""
    graph = _data_import_graph(data_dir)
    bad = []
    for mod, deps in sorted(graph.items()):
        if "dsc_core.data.pairs" in deps and mod != "dsc_core.data" and mod not in pending:
            bad.append(f"{mod} imports dsc_core.data.pairs (take the pair types from dsc_core.data.types)")
    if graph.get("dsc_core.data.types"):
        bad.append(f"dsc_core.data.types imports {', '.join(sorted(graph['dsc_core.data.types']))}")
    # cycles, with the pending loaders' known edge to pairs.py left out
    edges = {m: {d for d in deps if not (m in pending and d == "dsc_core.data.pairs")} for m, deps in graph.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                bad.append("import cycle: " + " -> ".join(path[path.index(d) :] + [d]))
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return bad


def test_data_loaders_do_not_import_pairs_and_data_has_no_import_cycle(tmp_path):
    data = ROOT / "dsc_core" / "data"
    bad = _data_rule_violations(data, DATA_PAIRS_IMPORT_PENDING)
    assert not bad, "; ".join(bad)
    graph = _data_import_graph(data)
    still = {m for m in DATA_PAIRS_IMPORT_PENDING if "dsc_core.data.pairs" in graph.get(m, ())}
    assert still == DATA_PAIRS_IMPORT_PENDING, (
        f"{sorted(DATA_PAIRS_IMPORT_PENDING - still)} no longer import pairs.py: drop from DATA_PAIRS_IMPORT_PENDING"
    )
    # The check catches a planted violation: a loader that imports pairs.py again (lazily, in a function),
    # which is also a cycle with pairs.py's lazy import of the loaders.
    planted = tmp_path / "data"
    shutil.copytree(data, planted, ignore=shutil.ignore_patterns("__pycache__"))
    kitti = planted / "kitti.py"
    kitti.write_text(kitti.read_text() + "\n\ndef _planted():\n    from dsc_core.data.pairs import open_pairs\n")
    found = _data_rule_violations(planted, DATA_PAIRS_IMPORT_PENDING)
    assert "dsc_core.data.kitti imports dsc_core.data.pairs (take the pair types from dsc_core.data.types)" in found
    assert any(v.startswith("import cycle:") and "dsc_core.data.kitti" in v for v in found), found
    # and types.py growing a data import is caught too
    (planted / "types.py").write_text("from dsc_core.data import photos\n")
    found = _data_rule_violations(planted, DATA_PAIRS_IMPORT_PENDING)
    assert "dsc_core.data.types imports dsc_core.data.photos" in found
