"""``aimc accuracy NETWORK.onnx|digits-mlp``: accuracy of a network on the analog tile.

Registered in the ``aimc`` CLI through ``EXTERNAL_COMMANDS`` (:mod:`aimc.system.cli`).
``digits-mlp`` trains the 64-128-10 MLP on scikit-learn's digits (``--net-seed``), writes it
as ONNX and evaluates it; ``--seed`` only draws the devices, so several ``--seed`` runs
evaluate the same network; an ``.onnx`` file is evaluated on the digits test split (64 input
features) or on ``--data FILE.npz`` (arrays ``x_cal``, ``x_test``, ``y_test``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("accuracy", help="accuracy of an MLP on the analog tile (ideal / "
                       "quantised / analog)",
                       description="Run a network's test set through the float matmul, the "
                       "quantised path and the analog array (crossbar + CCO-ADC surrogates, "
                       "PCM statistics) and print accuracies and MVM errors.")
    p.add_argument("network", help="digits-mlp or FILE.onnx (Gemm/MatMul + Relu MLP)")
    p.add_argument("--tile", metavar="TILE.h5", help="tile model (default: the shipped one)")
    p.add_argument("--t-inference-s", type=float, default=3600.0,
                   help="time after programming at which the devices are read (default "
                        "3600 s); 0: programming noise only")
    p.add_argument("--seed", type=int, default=0,
                   help="device seed: programming noise, drift and read noise (default 0); "
                        "the network stays the same")
    p.add_argument("--net-seed", type=int, default=0,
                   help="network seed: digits train/test split and MLP training (default 0)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="x_cal, x_test, y_test arrays (default: scikit-learn digits)")
    p.add_argument("--onnx-out", metavar="FILE.onnx",
                   help="digits-mlp: where to write the ONNX file (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import numpy as np
    from aimc.system.array.accuracy import evaluate_accuracy, report_table
    from aimc.system.array.layer import resolve_tile_model
    from aimc.system.networks.digits_mlp import digits_data, digits_mlp_onnx

    if args.t_inference_s < 0:
        raise ValueError(f"--t-inference-s must be >= 0, got {args.t_inference_s}")
    tile = resolve_tile_model(args.tile)
    tile_name = args.tile or "default"
    with tempfile.TemporaryDirectory() as tmp:
        sk_acc = None
        if args.network == "digits-mlp":
            out = Path(args.onnx_out) if args.onnx_out else Path(tmp) / "digits_mlp.onnx"
            onnx_path, data, sk_acc = digits_mlp_onnx(out, args.net_seed)
        elif args.network.lower().endswith(".onnx"):
            onnx_path = Path(args.network)
            if not onnx_path.is_file():
                raise FileNotFoundError(f"ONNX file {args.network!r} does not exist")
            data = None if args.data else digits_data(args.net_seed)
        else:
            raise ValueError(f"unknown network {args.network!r}: give digits-mlp or FILE.onnx")
        if args.data:
            with np.load(args.data) as z:
                missing = [k for k in ("x_cal", "x_test", "y_test") if k not in z]
                if missing:
                    raise ValueError(f"{args.data}: lacks array(s) {', '.join(missing)}")
                x_cal, x_test, y_test = z["x_cal"], z["x_test"], z["y_test"]
        else:
            x_cal, x_test, y_test = data.x_train[:256], data.x_test, data.y_test
        rep = evaluate_accuracy(onnx_path, x_cal, x_test, y_test, tile_model=tile,
                                t_inference_s=args.t_inference_s, seed=args.seed,
                                tile_name=tile_name)
    if args.json:
        d = rep.to_dict()
        d["sklearn_accuracy"] = sk_acc
        print(json.dumps(d, indent=1, default=float))
    else:
        print(report_table(rep))
    return 0
