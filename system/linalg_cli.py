"""``aimc linalg``: solve Ax = b, PageRank and eigenvectors on closed-loop crossbars.

    aimc linalg solve A.npy b.npy [--spice|--surrogate] [--two-arrays] [--transient] [--json]
    aimc linalg pagerank GRAPH.csv [--spice|--surrogate] [--dangling uniform] [--json]
    aimc linalg eig H.npy [--lowest] [--eigenvalue X] [--spice|--surrogate] [--json]

Matrices are ``.npy`` (or ``.csv``/``.txt``, comma- or space-separated); graphs are
CSV ``source,target`` edge lists with integer ids 0..N-1. Every result is printed
beside the digital reference (numpy.linalg / power iteration).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("linalg", help="in-memory linear algebra: solve Ax=b, PageRank, "
                       "eigenvectors on closed-loop crossbars (SPICE or surrogate)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="linalg_command", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        eng = q.add_mutually_exclusive_group()
        eng.add_argument("--spice", dest="engine", action="store_const", const="spice",
                         help="simulate the circuit in ngspice (default; N <= --max-spice-n)")
        eng.add_argument("--surrogate", dest="engine", action="store_const",
                         const="surrogate", help="exact sparse network model (any N)")
        q.set_defaults(engine="spice")
        q.add_argument("--device", choices=["linear", "pcm", "rram"], default="linear")
        q.add_argument("--r-wire-row", type=float, default=0.0, metavar="OHM",
                       help="wire resistance per cell, driven lines")
        q.add_argument("--r-wire-col", type=float, default=0.0, metavar="OHM",
                       help="wire resistance per cell, sense lines")
        q.add_argument("--r-driver", type=float, default=0.0, metavar="OHM",
                       help="amplifier-to-line driver resistance")
        q.add_argument("--gain", type=float, default=1e4, help="op-amp DC gain (1e4)")
        q.add_argument("--gbw", type=float, default=10e6, metavar="HZ",
                       help="op-amp gain-bandwidth product (10 MHz)")
        q.add_argument("--offset", type=float, default=0.0, metavar="V",
                       help="op-amp input offset")
        q.add_argument("--ideal", action="store_true", help="ideal op-amps (op only)")
        q.add_argument("--g-max", type=float, default=25e-6, metavar="S",
                       help="conductance of the largest |entry| (25 uS)")
        q.add_argument("--max-spice-n", type=int, default=128,
                       help="largest N simulated in SPICE (128)")
        q.add_argument("--json", action="store_true", help="machine-readable output")
        q.add_argument("--plots", metavar="DIR", help="write plots (PNG) into DIR")

    q = s.add_parser("solve", help="solve Ax = b")
    q.add_argument("a", metavar="A.npy")
    q.add_argument("b", metavar="b.npy")
    q.add_argument("--two-arrays", action="store_true",
                   help="mixed-sign A = A+ - A- on two arrays with an inverting stage")
    q.add_argument("--transient", action="store_true",
                   help="SPICE: step response (settling time, energy)")
    common(q)
    q.set_defaults(func=_run_solve)

    q = s.add_parser("pagerank", help="PageRank of a directed graph (edge-list CSV)")
    q.add_argument("graph", metavar="GRAPH.csv")
    q.add_argument("--nodes", type=int, help="number of nodes (default: largest id + 1)")
    q.add_argument("--damping", type=float, default=0.85)
    q.add_argument("--dangling", choices=["error", "uniform"], default="error",
                   help="pages without out-links: refuse (default) or link them to all")
    q.add_argument("--top", type=int, default=10, help="rows of the ranking table")
    common(q)
    q.set_defaults(func=_run_pagerank, two_arrays=False)

    q = s.add_parser("eig", help="eigenvector of the largest (or, --lowest, smallest) "
                     "eigenvalue of a matrix")
    q.add_argument("h", metavar="H.npy")
    q.add_argument("--lowest", action="store_true",
                   help="ground state: run the circuit on c*I - H")
    q.add_argument("--eigenvalue", type=float,
                   help="eigenvalue to set G_lambda to (default: computed from H)")
    q.add_argument("--two-arrays", action="store_true",
                   help="mixed-sign matrices on two arrays")
    common(q)
    q.set_defaults(func=_run_eig)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


# ---- helpers ----------------------------------------------------------------------------------
def load_array(path: str, what: str):
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            text = p.read_text()
            arr = np.loadtxt(p, delimiter="," if "," in text else None, ndmin=1)
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {what} from {path!r}: {exc}") from None
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{what} in {path!r} is not numeric (dtype {arr.dtype})")
    return arr.astype(float)


def _config(args: argparse.Namespace):
    from aimc.circuits.linalg import LinalgConfig
    from aimc.circuits.opamp import OpAmp

    op = (OpAmp.make_ideal(args.offset) if args.ideal
          else OpAmp(dc_gain=args.gain, gbw_hz=args.gbw, offset_v=args.offset))
    return LinalgConfig(opamp=op, device=args.device, r_wire_row_ohm=args.r_wire_row,
                        r_wire_col_ohm=args.r_wire_col, r_driver_ohm=args.r_driver,
                        g_max_s=args.g_max, two_arrays=getattr(args, "two_arrays", False),
                        max_spice_n=args.max_spice_n)


def _stages(args: argparse.Namespace, names: list[str]):
    from tqdm import tqdm

    return tqdm(names, desc=f"linalg {args.linalg_command}", disable=args.json,
                file=sys.stderr, leave=False)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_waves(time_s, waves_v, out: Path, title: str, t_settle_s: float | None = None) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for w in waves_v:
        ax.plot(time_s * 1e6, w, lw=0.8)
    if t_settle_s is not None:
        ax.axvline(t_settle_s * 1e6, color="k", ls="--", lw=0.8, label="settled (0.1 %)")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("time (µs)")
    ax.set_ylabel("amplifier outputs (V)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [header] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- solve ------------------------------------------------------------------------------------
def _run_solve(args: argparse.Namespace) -> int:
    import numpy as np
    from aimc.circuits import linalg as la

    cfg = _config(args)
    a = la.check_matrix(load_array(args.a, "A"), cfg.two_arrays)
    b = la.check_vector(load_array(args.b, "b").reshape(-1), a.shape[0])
    out: dict[str, Any] = {"engine": args.engine, "n": a.shape[0]}
    # every check before any progress output: a bad input gives one clean message
    if args.engine == "spice":
        la.check_size(a.shape[0], cfg)
    la.check_nonsingular(a)
    la.check_stability(a)
    bar = _stages(args, ["simulate", "compare"])
    it = iter(bar)
    if args.engine == "spice":
        next(it)
        res = la.solve(a, b, cfg, transient=args.transient)
        out.update(sim_time_s=res.sim_time_s, power_w=res.power_w)
        if args.transient:
            out.update(t_settle_s=res.t_settle_s, t_settle_predicted_s=res.t_settle_predicted_s,
                       energy_j=res.energy_j, energy_quiescent_j=res.e_quiescent_j)
    else:
        from aimc.surrogate.linalg_model import LinalgModel

        next(it)
        res = LinalgModel(cfg).solve(a, b)
        out.update(t_settle_s=res.t_settle_s, power_w=res.power_w, energy_j=res.energy_j)
    next(it, None)
    bar.close()
    ref = np.linalg.solve(a, b)
    err = float(np.max(np.abs(res.x - ref)) / max(np.max(np.abs(ref)), 1e-300))
    resid = float(np.linalg.norm(a @ res.x - b) / max(np.linalg.norm(b), 1e-300))
    out.update(x=res.x.tolist(), x_numpy=ref.tolist(), max_rel_error=err,
               relative_residual=resid, lambda_min=res.lambda_min, condition_number=res.cond,
               range_source=res.mapping.range_source)
    plots = []
    if args.plots and getattr(res, "waves_v", None) is not None:
        plots.append(str(plot_waves(res.time_s, res.waves_v, Path(args.plots) / "linalg_solve.png",
                                    f"step response, N={a.shape[0]}", res.t_settle_s)))
    out["plots"] = plots
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    n_show = min(a.shape[0], 16)
    print(_table([(i, f"{res.x[i]:.6g}", f"{ref[i]:.6g}") for i in range(n_show)],
                 ("i", f"x ({args.engine})", "x (numpy)")))
    if a.shape[0] > n_show:
        print(f"... {a.shape[0] - n_show} more")
    print(f"max relative error {err:.3g}, relative residual {resid:.3g}, "
          f"condition number {res.cond:.3g}, loop lambda_min {res.lambda_min:.4g}")
    if np.isfinite(out.get("t_settle_s", float("nan"))):
        e = out.get("energy_j", float("nan"))
        print(f"settling time (0.1 %) {out['t_settle_s'] * 1e9:.1f} ns, energy {e * 1e9:.4g} nJ"
              + (" (fitted model)" if args.engine == "surrogate" else ""))
    for p in plots:
        print(f"plot: {p}")
    return 0


# ---- pagerank ---------------------------------------------------------------------------------
def _run_pagerank(args: argparse.Namespace) -> int:
    import numpy as np
    from aimc.circuits import linalg as la

    cfg = _config(args)
    edges, n = la.read_graph_csv(args.graph, args.nodes)
    g = la.google_matrix(edges, n, args.damping, args.dangling)
    ref, iters = la.power_iteration(g)
    if args.engine == "spice":
        la.check_size(n, cfg)
    bar = _stages(args, ["simulate"])
    out: dict[str, Any] = {"engine": args.engine, "n": n, "edges": int(len(edges)),
                           "power_iterations": iters}
    for _ in bar:
        if args.engine == "spice":
            res = la.pagerank(edges, n, cfg, args.damping, args.dangling)
            v = res.vector
            out.update(t_settle_s=res.t_settle_s, energy_j=res.energy_j,
                       sim_time_s=res.sim_time_s)
        else:
            from aimc.surrogate.linalg_model import LinalgModel

            v = LinalgModel(cfg).eigenvector(g, eigenvalue=1.0)
            res = None
    rank = v / v.sum()
    cos = float(v @ ref / np.linalg.norm(ref))
    order, order_ref = np.argsort(-rank), np.argsort(-ref)
    out.update(pagerank=rank.tolist(), pagerank_power_iteration=ref.tolist(), cosine=cos,
               ranking_equal=la.same_ranking(rank, ref),
               ranking=order.tolist())
    plots = []
    if args.plots:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6, 3.4))
        idx = np.arange(n)
        ax.bar(idx - 0.2, ref, 0.4, label="power iteration")
        ax.bar(idx + 0.2, rank, 0.4, label=args.engine)
        ax.set_xlabel("page")
        ax.set_ylabel("PageRank")
        ax.legend(fontsize=8)
        fig.tight_layout()
        out_p = Path(args.plots) / "linalg_pagerank.png"
        out_p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_p, dpi=120)
        plt.close(fig)
        plots.append(str(out_p))
        if res is not None:
            plots.append(str(plot_waves(res.time_s, res.waves_v,
                                        Path(args.plots) / "linalg_pagerank_waves.png",
                                        "eigenvector circuit", res.t_settle_s)))
    out["plots"] = plots
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    rows = [(k + 1, int(order[k]), f"{rank[order[k]]:.5f}", int(order_ref[k]),
             f"{ref[order_ref[k]]:.5f}") for k in range(min(args.top, n))]
    print(_table(rows, ("rank", "page", f"PageRank ({args.engine})", "page",
                        "power iteration")))
    print(f"cosine similarity {cos:.6f}; ranking "
          f"{'equal' if out['ranking_equal'] else 'DIFFERENT'} ({iters} power iterations)")
    if "t_settle_s" in out:
        print(f"settling time {out['t_settle_s'] * 1e9:.1f} ns, energy "
              f"{out['energy_j'] * 1e9:.4g} nJ")
    for p in plots:
        print(f"plot: {p}")
    return 0


# ---- eig --------------------------------------------------------------------------------------
def _run_eig(args: argparse.Namespace) -> int:
    import numpy as np
    from aimc.circuits import linalg as la

    cfg = _config(args)
    h = load_array(args.h, "H")
    la.check_matrix(h, True, "H")
    if not np.allclose(h, h.T) and args.lowest:
        raise ValueError("--lowest needs a symmetric (Hermitian) H")
    shift = 0.0
    k = h
    if args.lowest:
        k, shift = la.ground_state_matrix(h)
    la.check_matrix(k, cfg.two_arrays, "H")
    lam = None if args.eigenvalue is None else (shift - args.eigenvalue if args.lowest
                                                else args.eigenvalue)
    w, vecs = np.linalg.eig(k)
    i1 = int(np.argmax(w.real))
    ref = np.real(vecs[:, i1])
    ref = ref * np.sign(ref[np.argmax(np.abs(ref))]) / np.linalg.norm(ref)
    out: dict[str, Any] = {"engine": args.engine, "n": h.shape[0]}
    if args.engine == "spice":
        la.check_size(h.shape[0], cfg)
    for _ in _stages(args, ["simulate"]):
        if args.engine == "spice":
            res = la.eigenvector(k, cfg, eigenvalue=lam)
            v = res.vector
            out.update(t_settle_s=res.t_settle_s, energy_j=res.energy_j,
                       eigenvalue_set=res.lambda_set)
        else:
            from aimc.surrogate.linalg_model import LinalgModel

            v = LinalgModel(cfg).eigenvector(k, eigenvalue=lam)
    eig_val = float(w[i1].real)
    out.update(vector=v.tolist(), vector_numpy=ref.tolist(), cosine=float(abs(v @ ref)),
               eigenvalue=(shift - eig_val) if args.lowest else eig_val)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(_table([(i, f"{v[i]:.6f}", f"{ref[i]:.6f}") for i in range(min(h.shape[0], 16))],
                 ("i", f"vector ({args.engine})", "numpy")))
    print(f"eigenvalue {out['eigenvalue']:.6g}; cosine similarity {out['cosine']:.6f}")
    return 0
