"""Shared helpers of the sweep tests (not a test module)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import sys
from pathlib import Path

import h5py
import numpy as np


def cli_command() -> list[str]:
    """The real ``aimc sweep`` console script of this environment."""
    exe = Path(sys.executable).with_name("aimc")
    return [str(exe) if exe.exists() else shutil.which("aimc") or "aimc", "sweep"]


LOOPBACK = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
"""Arguments that keep a test's Dask scheduler or worker on loopback (comm and HTTP)."""


def listening_hosts(pid: int) -> list[str]:
    """The address of each TCP socket a process listens on."""
    import psutil

    return [c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def probe_spec(tmp_path: Path, n_points: int, sleep_s: float = 0.0, extra: str = "",
               name: str = "probe.toml", timeout_s: float = 30.0) -> Path:
    """A fault_probe sweep of ``n_points`` points (label = 0..n-1)."""
    text = f"""
[sweep]
name = "probe"
generator = "fault_probe"
seed = 42
timeout_s = {timeout_s}

[fixed]
n = 3
sleep_s = {sleep_s}
{extra}

[grid]
label = {{ linspace = [0.0, {n_points - 1}.0, {n_points}] }}
"""
    p = tmp_path / name
    p.write_text(text)
    return p


def statuses(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        codes = f["points/status"][()]
        names = {v: k for k, v in h5py.check_enum_dtype(f["points/status"].dtype).items()}
    return np.array([names[int(c)] for c in codes])
