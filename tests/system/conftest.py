"""Shared fixtures for the system-level tests."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import evaluate
from aimc.system.networks.mobilenetv2 import mobilenetv2

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.fixture(scope="session")
def light_dir() -> Path:
    if not LIGHT.is_dir():  # pragma: no cover - onnx always ships them
        pytest.skip("onnx light models not found")
    return LIGHT


@pytest.fixture(scope="session")
def mnv2_result():
    return evaluate(mobilenetv2(), ClusterConfig())
