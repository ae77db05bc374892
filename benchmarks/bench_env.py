"""Set-up shared by the benchmark scripts: import it before NumPy.

* one BLAS thread (``OMP``/``OPENBLAS``/``MKL_NUM_THREADS``, unless the caller set them):
  the scripts measure single-threaded work on a shared machine;
* :func:`cpu_s`: process CPU time (user + system, getrusage), the figure to compare when
  wall time swings with the machine's load.
"""

from __future__ import annotations

import os
import resource

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    """CPU seconds (user + system) of this process, or of its waited-for children."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
