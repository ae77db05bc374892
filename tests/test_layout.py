"""The layering of the packages, read from the source's import statements (ast).

Lower layers never import higher ones:

    circuits  <-  surrogate  <-  system
    inside system:  networks  <-  array  <-  cluster  <-  studies  <-  (cli, report, demo)

``cluster`` may use ``array`` (the IMA job model reads the tile model's array figures);
``array`` never uses ``cluster``. Imports are absolute (``aimc.…``) everywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"circuits": "aimc.circuits", "surrogate": "aimc.surrogate", "system": "aimc.system",
           "netlists": "aimc.netlists"}

# rank of each package: a module may import only packages of rank <= its own
RANK = {
    "aimc.netlists": 0,
    "aimc.circuits": 1,
    "aimc.surrogate": 2,
    "aimc.system.networks": 3,
    "aimc.system.array": 4,
    "aimc.system.cluster": 5,
    "aimc.system.studies": 6,
    "aimc.system": 7,        # cli, report, demo at the top of system/
}


def layer_of(module: str) -> str:
    best = ""
    for pkg in RANK:
        if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > len(best):
            best = pkg
    return best


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    dotted = FOLDERS[rel.parts[0]] + "".join("." + p for p in rel.parts[1:])
    return dotted.removesuffix(".py").removesuffix(".__init__")


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in p.parts)


def imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, imported module, relative level) of every import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod == "aimc" or (mod.startswith("aimc.") and node.names):
                # "from aimc.system import cli" names a module too
                out += [(node.lineno, f"{mod}.{a.name}", 0) for a in node.names]
            out.append((node.lineno, mod, node.level))
    return out


def test_every_source_is_seen():
    mods = {module_name(p) for p in sources()}
    assert {"aimc.circuits.sweep.run", "aimc.system.cluster.model",
            "aimc.system.networks.graph", "aimc.system.array.layer"} <= mods


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_and_are_absolute(path):
    me = layer_of(module_name(path))
    assert me, path
    for line, mod, level in imports(path):
        assert level == 0, f"{path.relative_to(ROOT)}:{line}: relative import; use aimc.…"
        if not mod.startswith("aimc"):
            continue
        target = layer_of(mod)
        if not target:
            continue
        assert RANK[target] <= RANK[me], (
            f"{path.relative_to(ROOT)}:{line} imports {mod}: {me} may not depend on {target}")


def test_a_back_edge_is_caught(tmp_path):
    """The checker itself: a circuits module importing the surrogate is refused."""
    bad = ast.parse("from aimc.surrogate.nodal import LinearCrossbarSolver\n")
    node = bad.body[0]
    assert RANK[layer_of(node.module)] > RANK[layer_of("aimc.circuits.crossbar")]
