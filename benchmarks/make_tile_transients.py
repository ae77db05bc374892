"""Record full-tile ngspice transients for the fast-path test
(``tests/system/array/data/tile_transients.h5``).

Each record: one 8x2 HERMES PCM tile (1 ohm wires, the PWM DAC drivers, transistor-level
CCO-ADCs, ``aimc.circuits.tile.simulate_tile``), one signed 8-bit code vector, and the
counts and line charges read from the transient. The weights are stored already on the
4-bit grid and the codes as inputs ``code/127``, so ``AnalogLayer`` maps them onto the
same conductances and codes (the test checks both).

    .venv/bin/python benchmarks/make_tile_transients.py [--vectors 6] [--out PATH]

Cost: about 1 min of CPU per vector (ngspice, one process).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests/system/array/data/tile_transients.h5"
ROWS, COLS, R_WIRE = 8, 2, 1.0


def main() -> int:
    import h5py
    from aimc.circuits.tile import TileConfig, simulate_tile
    from aimc.surrogate.tile_model import load_default_tile_model
    from aimc.system.array.layer import AnalogLayer, ArrayConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=6)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    w = rng.integers(-7, 8, (ROWS, COLS)) / 7.0
    w[0] = 1.0                                      # full-scale levels in every column
    codes = rng.integers(-127, 128, (args.vectors, ROWS))
    codes[0, 0] = 127                               # the input scale maps code 127 to 1
    cfg = ArrayConfig(tile_rows=ROWS, tile_cols=COLS, r_wire_row_ohm=R_WIRE,
                      r_wire_col_ohm=R_WIRE)
    model = load_default_tile_model()
    model.crossbar.domain_policy = "ignore"        # 8x2: only the tile geometry is needed
    layer = AnalogLayer(w, cfg, model).fit_inputs(codes / 127.0)
    tile = layer.tiles_[0]
    assert np.array_equal(layer.codes(codes / 127.0), codes)
    counts, q, sim_s = [], [], []
    for k, c in enumerate(codes):
        t0 = time.perf_counter()
        res = simulate_tile(TileConfig(tile.cfg), tile.g_target, c)
        counts.append(res.counts)
        q.append(res.q_out_c)
        sim_s.append(res.sim_time_s)
        print(f"vector {k + 1}/{len(codes)}: counts {res.counts} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(args.out, "w") as f:
        f.attrs["source"] = "benchmarks/make_tile_transients.py (ngspice transient, " \
                            "aimc.circuits.tile.simulate_tile)"
        f.attrs["rows"], f.attrs["cols"], f.attrs["r_wire_ohm"] = ROWS, COLS, R_WIRE
        f.attrs["encoding"], f.attrs["device"] = cfg.encoding, cfg.device
        f.attrs["seed"] = args.seed
        f["weights"] = w
        f["g_target_s"] = tile.g_target
        f["codes"] = codes
        f["counts"] = np.array(counts)
        f["q_out_c"] = np.array(q)
        f["sim_time_s"] = np.array(sim_s)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
