"""Shared pieces of the array-simulator tests: a real tile model fitted from real sweeps.

``tests/system/array/data/array_*.h5`` are ngspice sweeps (see array_crossbar.toml: a small
HERMES 32x32 crossbar sweep; the shipped surrogate_adc_train / surrogate_dac_train specs);
the tile model is fitted from them with the current ``aimc.surrogate`` code once per test
process, so a change of the tile-model format never leaves a stale file behind.
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SWEEPS = [DATA / "array_crossbar.h5", DATA / "array_adc.h5", DATA / "array_dac.h5"]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small matmuls: a multi-threaded OpenBLAS is ~8x slower on a shared 2-core machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def tile_path() -> Path:
    from aimc.surrogate.fit import fit_tile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tile(SWEEPS)
    out = Path(tempfile.mkdtemp(prefix="aimc_array_")) / "tile.h5"
    model.save(out)
    return out


@functools.lru_cache(maxsize=1)
def tile_model():
    from aimc.system.array.layer import resolve_tile_model

    return resolve_tile_model(tile_path())
