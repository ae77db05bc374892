"""Run every benchmark in turn (``make bench``); each prints its own table.

Benchmarks are not tests: they measure speed and memory on the machine at hand and
print medians and ratios measured side by side. ``--quick`` uses smaller sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)

HERE = Path(__file__).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    args = ap.parse_args()
    runs = [
        ["bench_crossbar.py", "--size", "64" if args.quick else "256",
         "--repeat", "1" if args.quick else "3"],
        ["bench_adc.py", "--points", "8" if args.quick else "32", "--workers", "2"],
        ["bench_sweep.py", "--points", "60" if args.quick else "400",
         "--repeat", "1" if args.quick else "3"],
        ["bench_pwm.py", "--size", "8" if args.quick else "64"],
        ["bench_system.py", "--repeat", "3"],
    ]
    runs.append(["bench_array.py", "--repeat", "3" if args.quick else "9"]
                + (["--batch", "64"] if args.quick else []))
    runs.append(["bench_network.py"] + (["--skip-mobilenet", "--repeat", "1"]
                                        if args.quick else []))
    runs.append(["bench_linalg.py"] + (["--quick"] if args.quick else []))
    runs.append(["bench_study.py", "--n", "10" if args.quick else "200"])
    if (HERE / "bench_surrogate.py").exists():
        runs.append(["bench_surrogate.py"] + (["--quick"] if args.quick else []))
    status = 0
    for cmd in runs:
        print(f"\n=== {' '.join(cmd)} ===", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / cmd[0]), *cmd[1:]])
    return status


if __name__ == "__main__":
    sys.exit(main())
