"""Design-space exploration: evaluate one network on many cluster configurations.

``grid`` builds configurations from axes (dotted field names, e.g. ``"ima.bus_bits"``);
``sweep`` evaluates them in worker processes (TILE&PACK is computed once per distinct
crossbar mapping and reused); ``pareto`` keeps the non-dominated points.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Sequence
from typing import Any

from aimc.system.cluster.config import OPERATING_POINTS, ClusterConfig
from aimc.system.cluster.model import DoesNotFitError, evaluate, pack_network
from aimc.system.networks.graph import Network


def with_field(cfg: ClusterConfig, key: str, value: Any) -> ClusterConfig:
    """Copy of ``cfg`` with a dotted field (``"op"`` takes an operating-point name)."""
    if key == "op":
        return cfg.with_op(value)
    parts = key.split(".")
    if len(parts) == 1:
        if not hasattr(cfg, key):
            raise ValueError(f"unknown configuration field {key!r}")
        return dataclasses.replace(cfg, **{key: value})
    block, name = parts
    sub = getattr(cfg, block, None)
    if sub is None or not dataclasses.is_dataclass(sub) or not hasattr(sub, name):
        raise ValueError(f"unknown configuration field {key!r}")
    return dataclasses.replace(cfg, **{block: dataclasses.replace(sub, **{name: value})})


def grid(axes: dict[str, Sequence[Any]], base: ClusterConfig | None = None) -> list[ClusterConfig]:
    base = base or ClusterConfig()
    keys = list(axes)
    out = []
    for combo in itertools.product(*(axes[k] for k in keys)):
        cfg = base
        for k, v in zip(keys, combo, strict=True):
            cfg = with_field(cfg, k, v)
        out.append(cfg.validate())
    return out


#: a 1,000-point default space around the seed-001 cluster (5 x 5 x 2 x 2 x 2 x 5)
DEFAULT_AXES: dict[str, Sequence[Any]] = {
    "n_cores": (1, 2, 4, 8, 16),
    "ima.bus_bits": (32, 64, 128, 256, 512),
    "op": tuple(OPERATING_POINTS),
    "ima.execution": ("sequential", "pipelined"),
    "mapping": ("ima_dw", "hybrid"),
    "dwa.multipliers": (9, 18, 36, 72, 144),
}


def _pack_key(cfg: ClusterConfig) -> tuple:
    return (cfg.mapping, cfg.ima.c_job, cfg.ima.map_fc, cfg.ima.size, cfg.has_dwa)


_NET: Network | None = None
_PACKS: dict[tuple, Any] = {}


def _init(net: Network) -> None:
    global _NET
    _NET = net
    _PACKS.clear()


def _one(cfg: ClusterConfig) -> dict[str, Any]:
    assert _NET is not None
    key = _pack_key(cfg)
    if key not in _PACKS:
        _PACKS[key] = pack_network(_NET, cfg)
    row: dict[str, Any] = {
        "n_cores": cfg.n_cores, "bus_bits": cfg.ima.bus_bits, "f_hz": cfg.op.f_hz,
        "vdd_v": cfg.op.vdd_v, "execution": cfg.ima.execution, "mapping": cfg.mapping,
        "tcdm_kib": cfg.tcdm_kib, "has_dwa": cfg.has_dwa, "ports": cfg.ima.ports,
        "c_job": cfg.ima.c_job, "multipliers": cfg.dwa.multipliers,
        "op": f"{cfg.op.f_hz / 1e6:g}MHz",
    }
    try:
        r = evaluate(_NET, cfg, pack=_PACKS[key])
    except DoesNotFitError as exc:
        row.update(error=str(exc))
        return row
    row.update(latency_s=r.latency_s, energy_j=r.energy_j, n_ima=r.n_ima,
               area_mm2=r.area_mm2(), inferences_per_s=r.inferences_per_s)
    return row


def sweep(net: Network, configs: Iterable[ClusterConfig], processes: int | None = 2,
          progress: bool = False) -> list[dict[str, Any]]:
    """Evaluate ``net`` on every configuration; rows in input order."""
    configs = list(configs)
    procs = min(processes or os.cpu_count() or 1, len(configs)) if configs else 1
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(configs), unit="cfg", desc=f"sweep {net.name}")
    rows: list[dict[str, Any]] = []
    if procs <= 1:
        _init(net)
        for c in configs:
            rows.append(_one(c))
            if bar:
                bar.update()
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        chunk = max(1, len(configs) // (procs * 8))
        with ctx.Pool(procs, initializer=_init, initargs=(net,)) as pool:
            for row in pool.imap(_one, configs, chunksize=chunk):
                rows.append(row)
                if bar:
                    bar.update()
    if bar:
        bar.close()
    return rows


def pareto(rows: list[dict[str, Any]], keys: Sequence[str] = ("latency_s", "energy_j",
                                                              "area_mm2")) -> list[dict]:
    """Rows not dominated on all ``keys`` (smaller is better)."""
    ok = [r for r in rows if "error" not in r]
    front = []
    for r in ok:
        dominated = any(all(o[k] <= r[k] for k in keys) and any(o[k] < r[k] for k in keys)
                        for o in ok)
        if not dominated:
            front.append(r)
    return front
