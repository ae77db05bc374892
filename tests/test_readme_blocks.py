"""The README is executable: every fenced ``python`` and ``sh`` block of README.md and
docs/readme/*.md runs, in document order, in a fresh temporary folder.

Rules (stated in the README, section "Running the examples"):

* Each document gets its own temporary folder that looks like a clone of the repository
  (its top-level entries are symbolic links, ``.venv`` is this test's environment), so
  ``make demo``, ``python benchmarks/...`` and relative paths work; files written by a
  block stay there for the next block.
* ``sh`` blocks run in bash (``set -eo pipefail``) with the environment's ``bin`` first on
  ``PATH``, as after ``source .venv/bin/activate``.
* ``python`` blocks share one interpreter session and namespace per document, in order,
  and run as a script's ``__main__`` (see ``readme_block_driver.py``).
* A block whose first line is ``# placeholder: <why>`` is skipped (it needs the reader's
  own file, server or PDK).
* A block whose first line is ``# CI-sized: <what differs>`` is the CI-sized variant of the
  runnable block just before it: that variant runs instead of it. No other block is left
  unrun.

The expected results are the documents' own claims; a block fails the test when it raises,
exits non-zero or warns that its inputs left a fitted model's domain (``UserWarning``
from the surrogates is an error here: an example must stay inside the fitted domain).
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs" / "readme").glob("*.md"))]
RUN_LANGS = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
PLACEHOLDER = "# placeholder:"
CI_SIZED = "# CI-sized:"
#: a hang guard per block (s), not the budget: the CPU time of every block is printed
#: (pytest -s) and the README's benchmark table keeps the total
BLOCK_TIMEOUT_S = 900.0
#: repository entries not mirrored into the temporary folder
NOT_MIRRORED = {".git", ".venv", "out", ".pytest_cache", ".ruff_cache", "build", "dist"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass
class Block:
    doc: Path
    line: int          # 1-based line of the opening fence
    lang: str          # "python" | "sh"
    code: str

    @property
    def first_line(self) -> str:
        for ln in self.code.splitlines():
            if ln.strip():
                return ln.strip()
        return ""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def fenced_blocks(doc: Path) -> list[Block]:
    """Every fenced block in a python/sh language, in document order."""
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        info = m["info"].strip().split()
        lang = info[0].lower() if info else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = FENCE.match(lines[j])
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence) \
                    and not close["info"].strip():
                break
            ln = lines[j]
            body.append(ln[len(indent):] if ln.startswith(indent) else ln.lstrip())
            j += 1
        if lang in RUN_LANGS:
            blocks.append(Block(doc, i + 1, RUN_LANGS[lang], "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def run_plan(doc: Path) -> tuple[list[Block], list[Block]]:
    """(blocks to run in order, placeholder blocks). A CI-sized block replaces the runnable
    block before it; every other non-placeholder block runs."""
    plan: list[Block] = []
    placeholders: list[Block] = []
    for b in fenced_blocks(doc):
        if b.first_line.startswith(PLACEHOLDER):
            reason = b.first_line[len(PLACEHOLDER):].strip()
            assert reason, f"{b.where}: a placeholder must say why it cannot run"
            placeholders.append(b)
        elif b.first_line.startswith(CI_SIZED):
            assert plan and plan[-1].lang == b.lang and not plan[-1].first_line.startswith(
                CI_SIZED), f"{b.where}: a CI-sized block must follow the {b.lang} block it " \
                           "stands for"
            plan[-1] = b
        else:
            plan.append(b)
    return plan, placeholders


def mirror_repo(folder: Path) -> None:
    """Make ``folder`` look like a clone: links to the repository's top-level entries and
    ``.venv`` -> the environment running this test."""
    for entry in REPO.iterdir():
        if entry.name in NOT_MIRRORED or entry.name.endswith(".egg-info"):
            continue
        (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def block_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = folder / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(folder / ".venv")
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONPATH", None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


class PythonSession:
    """One interpreter per document (``readme_block_driver.py``)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.log = open(folder / "readme_python.log", "wb")  # noqa: SIM115
        self.result_r, result_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__).with_name("readme_block_driver.py")),
             str(result_w)], cwd=folder, env=env, stdin=subprocess.PIPE, stdout=self.log,
            stderr=subprocess.STDOUT, pass_fds=(result_w,))
        os.close(result_w)
        self.buffer = b""
        self.n = 0

    def run(self, block: Block, timeout_s: float) -> dict:
        self.n += 1
        path = self.folder / f"readme_block_{self.n:02d}_line{block.line}.py"
        path.write_text(block.code, encoding="utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path.name}\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.result_r], [], [], max(left, 0))
            if not ready:
                self.close()
                return {"ok": False, "error": f"timed out after {timeout_s:.0f} s"}
            chunk = os.read(self.result_r, 65536)
            if not chunk:
                self.close()
                return {"ok": False, "error": "the interpreter died:\n" + self.tail()}
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def tail(self, n: int = 3000) -> str:
        self.log.flush()
        text = (self.folder / "readme_python.log").read_text(errors="replace")
        return text[-n:]

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.result_r) if self.result_r >= 0 else None
        self.result_r = -1
        self.log.close()


def run_sh(block: Block, folder: Path, env: dict[str, str], timeout_s: float) -> dict:
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(["bash", "-c", "set -eo pipefail\n" + block.code], cwd=folder,
                           env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        return {"ok": False, "error": f"timed out after {timeout_s:.0f} s\n{exc.stdout or ''}"}
    if p.returncode != 0:
        return {"ok": False, "error": f"exit status {p.returncode}\n--- stdout (end) ---\n"
                f"{p.stdout[-1500:]}\n--- stderr (end) ---\n{p.stderr[-2500:]}"}
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"ok": True, "seconds": time.perf_counter() - t0,
            "cpu_s": c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime}


def test_every_block_is_run_or_a_labelled_placeholder():
    """The plan covers every python/sh block: run, replaced by its CI-sized variant shown
    next to it, or a placeholder that says why."""
    n_blocks = 0
    for doc in DOCS:
        blocks = fenced_blocks(doc)
        plan, placeholders = run_plan(doc)
        n_ci = sum(b.first_line.startswith(CI_SIZED) for b in blocks)
        # each CI-sized block stands for exactly one long block
        assert len(plan) + len(placeholders) + n_ci == len(blocks), doc
        n_blocks += len(blocks)
    assert n_blocks > 10


def test_block_parser_on_a_known_document(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("text\n```sh\necho a\n```\n```toml\n[a]\n```\n  ```python\n  x = 1\n"
                   "  ```\n```python\n# CI-sized: smaller\nx = 2\n```\n"
                   "```sh\n# placeholder: your server\nssh host\n```\n")
    blocks = fenced_blocks(doc)
    assert [(b.lang, b.line) for b in blocks] == [("sh", 2), ("python", 8), ("python", 11),
                                                  ("sh", 15)]
    assert blocks[1].code == "x = 1\n"
    plan, placeholders = run_plan(doc)
    assert [b.line for b in plan] == [2, 11] and [b.line for b in placeholders] == [15]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_document_blocks_run_as_written(doc: Path, tmp_path: Path):
    plan, _ = run_plan(doc)
    if not plan:
        return
    stamp = Path(sys.prefix) / ".aimc-installed"
    if any(b.lang == "sh" and "make " in b.code for b in plan) and stamp.exists():
        assert stamp.stat().st_mtime >= (REPO / "pyproject.toml").stat().st_mtime, \
            "pyproject.toml is newer than the environment: run `make .venv/.aimc-installed`"
    folder = tmp_path / "clone"
    folder.mkdir()
    mirror_repo(folder)
    env = block_env(folder)
    session: PythonSession | None = None
    timings = []
    try:
        for block in plan:
            if block.lang == "python":
                session = session or PythonSession(folder, env)
                res = session.run(block, BLOCK_TIMEOUT_S)
                if not res["ok"]:
                    res["error"] += "\n--- output ---\n" + session.tail()
            else:
                res = run_sh(block, folder, env, BLOCK_TIMEOUT_S)
            timings.append((block.where, res.get("seconds"), res.get("cpu_s")))
            assert res["ok"], f"{block.where} ({block.lang}) failed:\n{res['error']}"
    finally:
        if session is not None:
            session.close()
        for where, wall, cpu in timings:
            print(f"{where}: wall {wall or 0:.1f} s, cpu {cpu or 0:.1f} s")
    shutil.rmtree(folder, ignore_errors=True)
