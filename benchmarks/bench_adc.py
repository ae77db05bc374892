"""Benchmark: CCO-ADC transfer curve (32 DC currents, 0..100 uA, 128 ns window).

Prints total and per-point wall time, the calibration fit f = A*i/(1+B*i)+C, the INL
in LSB (best line through zero) and the energy per conversion. Usage:

    .venv/bin/python benchmarks/bench_adc.py [--points 32] [--workers 1] [--raw] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import numpy as np
from aimc.circuits.adc import (
    CcoAdcConfig,
    calibration_model,
    fit_calibration,
    fit_q_unit,
    inl_lsb,
    transfer_curve,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--raw", action="store_true", help="without feed-forward linearization")
    ap.add_argument("--variant", default="relaxation", choices=("relaxation", "ring"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = CcoAdcConfig(variant=args.variant, linearize=not args.raw)
    window = 128e-9
    currents = np.linspace(100e-6 / args.points, 100e-6, args.points)
    t0 = time.perf_counter()
    cur, f, n, e = transfer_curve(cfg, currents, window, workers=args.workers)
    total = time.perf_counter() - t0
    a, b, c = fit_calibration(cur, f)
    inl = inl_lsb(cur, n, window)
    # after a digital calibration with the fitted model (what HERMES does per ADC)
    # (fitted on the counts themselves, absolute residuals: the INL view)
    fit_n = fit_calibration(cur, n / window, relative=False)
    inl_cal = n - calibration_model(cur, *fit_n) * window
    out = {
        "variant": args.variant, "linearize": not args.raw, "points": args.points,
        "workers": args.workers, "total_s": round(total, 2),
        "per_point_s": round(total / args.points, 3),
        "A_hz_per_a": a, "A_mhz_per_ua": round(a / 1e12, 3), "B_per_a": round(b, 1),
        "B_over_A_s": b / a, "C_hz": round(c, 1),
        "q_unit_c": fit_q_unit(cur, n, window), "inl_max_lsb": round(float(np.abs(inl).max()), 2),
        "inl_calibrated_max_lsb": round(float(np.abs(inl_cal).max()), 2),
        "f_min_hz": float(f[0]), "f_max_hz": float(f[-1]), "count_max": int(n[-1]),
        "energy_min_j": float(e[0]), "energy_max_j": float(e[-1]),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>14}: {v}")


if __name__ == "__main__":
    main()
