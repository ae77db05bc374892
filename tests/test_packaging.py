"""The design card's folders install as one namespace, ``aimc``, in a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_everything_under_aimc(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("aimc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("aimc-")}
    assert tops == {"aimc"}, tops           # no generic 'circuits' or 'system' top level
    for must in ("aimc/circuits/crossbar.py", "aimc/circuits/spice.py",
                 "aimc/surrogate/nodal.py", "aimc/system/cli.py",
                 "aimc/netlists/models/generic.lib",
                 "aimc/system/networks/data/digits_cnn.onnx",
                 "aimc/system/networks/data/digits_mobilenet.onnx"):
        assert must in names, must
    for init in ROOT.glob("*/**/__init__.py"):      # every subpackage is listed in pyproject
        rel = init.relative_to(ROOT)
        if rel.parts[0] in {"circuits", "surrogate", "system", "netlists"}:
            assert "aimc/" + str(rel) in names, f"{rel.parent} is missing from pyproject's packages"
    assert any(n.startswith("aimc/netlists/sweeps/") and n.endswith(".toml") for n in names)
    assert not any(n.startswith("aimc/tests") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    assert "aimc = aimc.system.cli:main" in text
