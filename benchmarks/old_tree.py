"""The code of an older commit, importable as ``aimc`` in a child process, so that a
benchmark can measure the old and the new path side by side in one run.

``old_tree(ref)`` extracts ``git archive <ref>`` of this repository into a temporary
folder and lays out ``<tmp>/shim/aimc/{circuits,surrogate,system,netlists}`` as
links into it (with an ``__init__.py``, so it shadows the editable install when it
comes first on ``PYTHONPATH``). ``env_for(shim)`` is the environment for such a
child. The default reference is the last commit before issue 10's SPICE work.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OLD_REF = "7f9bcbd"
"""main before issue 10 (PWM max step 10 ps, sleep-polling runner, .save lines on .op)."""

_PACKAGES = ("circuits", "surrogate", "system", "netlists")


def old_tree(ref: str = OLD_REF, keep: list | None = None) -> Path:
    """Extract ``ref`` and return the shim folder to put first on ``PYTHONPATH``.

    ``keep`` receives the TemporaryDirectory object (delete it to clean up).
    """
    tmp = tempfile.TemporaryDirectory(prefix="aimc-old-")
    if keep is not None:
        keep.append(tmp)
    root = Path(tmp.name) / "src"
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    shim = Path(tmp.name) / "shim"
    pkg = shim / "aimc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in _PACKAGES:
        if (root / name).exists():
            (pkg / name).symlink_to(root / name, target_is_directory=True)
    return shim


def env_for(shim: Path | None) -> dict[str, str]:
    """Environment of a child process that imports ``aimc`` from ``shim`` (or, for
    ``None``, from the current tree)."""
    env = dict(os.environ)
    if shim is not None:
        env["PYTHONPATH"] = str(shim) + os.pathsep + env.get("PYTHONPATH", "")
    return env
