"""Runs a document's Python blocks in one interpreter session, as a pasted script would.

Started by ``test_readme_blocks.py`` in the document's temporary folder. It reads block
file names from stdin, one per line, and executes each block in one shared module named
``__main__`` (so ``if __name__ == "__main__":`` guards run, as in a script). Before each
block, that module's ``__file__`` is pointed at a script holding every block so far: a
process pool started with the *spawn* method re-runs that script in its workers, exactly
as it would re-run the user's script, so a pool without a ``__main__`` guard fails here
as it fails for the user. One JSON line per block goes to the result pipe (fd in argv[1]).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
import types
import warnings


def _cpu_s() -> float:
    """CPU time of this process and its finished children (process-pool workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main() -> None:
    result_fd = int(sys.argv[1])
    script = os.path.abspath("readme_session.py")
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = module
    sys.path.insert(0, os.getcwd())
    # an example must stay inside the surrogates' fitted domain
    warnings.filterwarnings("error", message=r".*extrapolating", category=UserWarning)
    so_far = ""
    for line in sys.stdin:
        block_path = line.strip()
        if not block_path:
            continue
        with open(block_path, encoding="utf-8") as f:
            source = f.read()
        so_far += f"\n# --- {block_path}\n{source}\n"
        with open(script, "w", encoding="utf-8") as f:
            f.write(so_far)
        module.__file__ = script
        t0 = time.perf_counter()
        c0 = _cpu_s()
        try:
            exec(compile(source, block_path, "exec"), module.__dict__)
            outcome = {"ok": True}
        except BaseException:  # noqa: BLE001 - every failure is reported to the test
            outcome = {"ok": False, "error": traceback.format_exc()}
        outcome["seconds"] = time.perf_counter() - t0
        outcome["cpu_s"] = _cpu_s() - c0
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(result_fd, (json.dumps(outcome) + "\n").encode())


if __name__ == "__main__":
    main()
