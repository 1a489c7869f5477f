"""The architecture's rules (docs/architecture.md), as tests that fail when a module breaks them.

* the container and the errors import without torch, compressai or rclpy (a bag tool, a log reader or a
  ROS node can parse a code without the codec);
* ``dsc_core`` never imports rclpy;
* no ``dsc_ros`` module both imports rclpy and reaches into ``dsc_core``'s internals (``models``, ``train``,
  ``data``, ``eval``): nodes talk to the codec through ``dsc_core``'s public API;
* ``dsc_core`` imports nothing of ``dsc_ros`` except ``dsc_ros.wire`` (offline bag reading shares the
  message layout with the nodes), and ``dsc_ros.wire`` imports only the standard library, numpy and Pillow:
  no rclpy, no message package, no torch, nothing of ``dsc_core`` (it must load where ROS is absent);
* the node runtime (``dsc_ros.nodes``) imports no tool (``dsc_ros.tools``: launchers, demo, bag tools);
* ``dsc-demo`` (and the collector it hears the pipeline through) measures with ``dsc_core``'s public API
  (``dsc_core.quality``, ``dsc_core.bpp``), never its internals.

The import checks run in a fresh interpreter in which the forbidden modules cannot be imported; the module
rules read every import statement, also those inside functions (most imports here are lazy on purpose).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERNALS = ("dsc_core.models", "dsc_core.train", "dsc_core.data", "dsc_core.eval")

_BLOCKER = """
import sys
class Blocker:
    def __init__(self, names): self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.names:
            raise ImportError(f'{name} is forbidden here')
        return None
sys.meta_path.insert(0, Blocker(BLOCKED))
"""


def _run_blocked(blocked: set, code: str) -> subprocess.CompletedProcess:
    src = _BLOCKER.replace("BLOCKED", repr(sorted(blocked))) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", src], cwd=ROOT, capture_output=True, text=True, timeout=120)


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


def _violations_of_the_node_rule(files) -> list[str]:
    bad = []
    for f in files:
        mods = _imports(f)
        speaks_ros = any(m == "rclpy" or m.startswith("rclpy.") for m in mods)
        internals = sorted(m for m in mods if m.startswith(INTERNALS))
        if speaks_ros and internals:
            bad.append(f"{f}: rclpy and {', '.join(internals)}")
    return bad


def _violations_of_the_demo_rule(files) -> list[str]:
    bad = []
    for f in files:
        internals = sorted(m for m in _imports(f) if m.startswith(INTERNALS))
        if internals:
            bad.append(f"{f}: {', '.join(internals)}")
    return bad


WIRE = ROOT / "dsc_ros" / "wire.py"
#: What dsc_ros.wire may import besides the standard library (Pillow only to decode a CompressedImage).
WIRE_ALLOWED = {"numpy", "PIL"}


def _dsc_ros_imports_of(path: Path) -> set[str]:
    """The dsc_ros modules a file imports (``from dsc_ros import wire`` counts as ``dsc_ros.wire``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "dsc_ros"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "dsc_ros":
                out |= {f"dsc_ros.{a.name}" for a in node.names}
            elif node.module.startswith("dsc_ros."):
                out.add(node.module)
    return out


def _violations_of_the_core_rule(files) -> list[str]:
    bad = []
    for f in files:
        other = sorted(m for m in _dsc_ros_imports_of(f) if m != "dsc_ros.wire" and not m.startswith("dsc_ros.wire."))
        if other:
            bad.append(f"{f}: {', '.join(other)}")
    return bad


def _violations_of_the_wire_rule(path: Path) -> list[str]:
    tops = {m.split(".")[0] for m in _imports(path)}
    return sorted(t for t in tops if t not in sys.stdlib_module_names and t not in WIRE_ALLOWED and t != "__future__")


def _violations_of_the_runtime_rule(files) -> list[str]:
    bad = []
    for f in files:
        tools = sorted(m for m in _dsc_ros_imports_of(f) if m == "dsc_ros.tools" or m.startswith("dsc_ros.tools."))
        if tools:
            bad.append(f"{f}: {', '.join(tools)}")
    return bad


def test_the_node_runtime_imports_no_tool():
    bad = _violations_of_the_runtime_rule(sorted((ROOT / "dsc_ros" / "nodes").rglob("*.py")))
    assert not bad, "dsc_ros.nodes must not depend on dsc_ros.tools: " + "; ".join(bad)


def test_dsc_core_imports_nothing_of_dsc_ros_but_the_wire_format():
    bad = _violations_of_the_core_rule(sorted((ROOT / "dsc_core").rglob("*.py")))
    assert not bad, "dsc_core may only use dsc_ros.wire: " + "; ".join(bad)


def test_wire_is_numpy_and_stdlib_only():
    bad = _violations_of_the_wire_rule(WIRE)
    assert not bad, f"dsc_ros.wire must import only the standard library, numpy and Pillow, not {bad}"
    # and at run time, where ROS, torch and dsc_core cannot be imported at all
    p = _run_blocked(
        {"rclpy", "torch", "compressai", "sensor_msgs", "std_msgs", "builtin_interfaces", "rosbags", "dsc_core"},
        """
        import dsc_ros.wire
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'torch', 'dsc_core')))
    """,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"


def test_container_and_errors_import_without_torch_compressai_or_rclpy():
    p = _run_blocked(
        {"torch", "compressai", "rclpy"},
        """
        import dsc_core.container, dsc_core.errors
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'compressai', 'rclpy')))
    """,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"


def test_no_dsc_core_module_imports_rclpy():
    files = sorted((ROOT / "dsc_core").rglob("*.py"))
    bad = [str(f.relative_to(ROOT)) for f in files if any(m.split(".")[0] == "rclpy" for m in _imports(f))]
    assert not bad, f"dsc_core must not speak ROS: {bad}"
    # and at run time: every module of the package imports in an interpreter without rclpy
    names = [".".join(f.relative_to(ROOT).with_suffix("").parts) for f in files if f.name != "__main__.py"]
    p = _run_blocked(
        {"rclpy"},
        f"""
        import importlib
        for name in {names!r}:
            importlib.import_module(name.removesuffix('.__init__'))
    """,
    )
    assert p.returncode == 0, p.stderr[-2000:]


def test_no_dsc_ros_module_speaks_ros_and_reaches_into_dsc_core_internals():
    bad = _violations_of_the_node_rule(sorted((ROOT / "dsc_ros").rglob("*.py")))
    assert not bad, "nodes must use dsc_core's public API: " + "; ".join(bad)


def test_the_demo_measures_through_the_public_api():
    # The demo speaks ROS through dsc_ros.tools.collector and imports no rclpy itself, so the rule above
    # (rclpy and internals in one file) would not see it take its figures from dsc_core.eval.
    tools = ROOT / "dsc_ros" / "tools"
    bad = _violations_of_the_demo_rule([tools / "demo.py", tools / "collector.py"])
    assert not bad, "dsc-demo must measure through dsc_core's public API: " + "; ".join(bad)


def test_the_rule_checks_catch_planted_violations(tmp_path):
    # A node module that speaks ROS and imports a model inside a function: the rule must see it.
    planted = tmp_path / "planted.py"
    planted.write_text("import rclpy\n\ndef f():\n    from dsc_core.models.level1 import Level1Codec\n")
    assert _violations_of_the_node_rule([planted]) == [
        f"{planted}: rclpy and dsc_core.models.level1, dsc_core.models.level1.Level1Codec"
    ]
    # A demo that measures with dsc_core.eval (lazily), without importing rclpy itself.
    demo = tmp_path / "demo.py"
    demo.write_text("import dsc_core\n\ndef f():\n    from dsc_core.eval import metrics\n")
    assert _violations_of_the_demo_rule([demo]) == [f"{demo}: dsc_core.eval, dsc_core.eval.metrics"]
    # A dsc_core module that takes more of dsc_ros than the wire format (lazily, inside a function).
    core = tmp_path / "core_module.py"
    core.write_text(
        "from dsc_ros import wire\n\ndef f():\n    from dsc_ros import node_set, wire\n"
        "    import dsc_ros.tools.bags.player\n"
    )
    assert _violations_of_the_core_rule([core]) == [f"{core}: dsc_ros.node_set, dsc_ros.tools.bags.player"]
    # A node module that reaches for a launcher's names (as node_base once took its markers from node_set).
    node = tmp_path / "node_module.py"
    node.write_text("from dsc_ros.nodes import params\n\ndef f():\n    from dsc_ros.tools import node_set\n")
    assert _violations_of_the_runtime_rule([node]) == [f"{node}: dsc_ros.tools"]
    # A wire module that grew an rclpy, torch or dsc_core import, even a lazy one.
    wire = tmp_path / "wire.py"
    wire.write_text(
        "import array\nimport numpy as np\n\ndef f():\n    import rclpy\n"
        "    from torch import nn\n    from dsc_core.models import level1\n"
    )
    assert _violations_of_the_wire_rule(wire) == ["dsc_core", "rclpy", "torch"]
    # A module that imports torch fails where torch is blocked, as a container that grew one would.
    p = _run_blocked({"torch"}, "import dsc_core.container, torch")
    assert p.returncode != 0 and "torch is forbidden here" in p.stderr
