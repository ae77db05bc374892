"""What a sweep worker sends back for one point (kept apart from the HDF5 store, so that
worker processes do not import h5py)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PointOutcome:
    """The result of one point as recorded in the file."""

    index: int
    status: str                                  # ok | failed | timeout
    message: str = ""
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    sim_time_s: float = float("nan")
    wall_time_s: float = float("nan")
    netlist_hash: str = ""
    worker: str = ""
    finished_utc: float = field(default_factory=time.time)
    ngspice_version: str = ""
    solve_time_s: float = float("nan")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
