"""Two trained CNNs for scikit-learn's digits, shipped as ONNX files, and their data.

``benchmarks/train_digits_cnn.py`` (PyTorch, an optional extra used only there) trains
and exports them; nothing here imports PyTorch.

- ``digits_cnn.onnx``: conv3x3-16, ReLU, conv3x3-32, ReLU, max-pool 2x2, FC 512-10.
- ``digits_mobilenet.onnx``: a MobileNetV2-style CNN: 3x3 stem, three inverted
  residual blocks (1x1 expansion, 3x3 depth-wise, 1x1 projection, residual add; ReLU6;
  BatchNorm folded into the convolutions by the exporter), 1x1 head, global average
  pooling, FC 64-10.

Both take NCHW ``(N, 1, 8, 8)`` float32 images in [0, 1] (pixel value / 16, the scaling
of :func:`aimc.system.networks.digits_mlp.digits_data`) and return ``(N, 10)`` logits.
The training script writes the float test accuracy it measured into each file's metadata
(:func:`training_report`); the split is the MLP's (360 test images).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from aimc.system.networks.digits_mlp import DigitsData, digits_data

NETWORKS = ("digits_cnn", "digits_mobilenet")
INPUT_SHAPE = (1, 8, 8)


class DigitsNetworkError(ValueError):
    """An unknown shipped network name."""


def shipped_path(name: str = "digits_cnn") -> Path:
    """Path of a shipped ONNX network (``digits_cnn`` or ``digits_mobilenet``)."""
    key = name.removesuffix(".onnx").replace("-", "_")
    if key not in NETWORKS:
        raise DigitsNetworkError(f"unknown digits network {name!r}; shipped: "
                                 + ", ".join(NETWORKS))
    return Path(str(resources.files("aimc.system.networks") / "data" / f"{key}.onnx"))


def digits_cnn_path() -> Path:
    return shipped_path("digits_cnn")


def digits_mobilenet_path() -> Path:
    return shipped_path("digits_mobilenet")


def digits_images(seed: int = 0, test_fraction: float = 0.2) -> DigitsData:
    """The MLP's split (same images, same order) as float32 NCHW ``(N, 1, 8, 8)``."""
    d = digits_data(seed, test_fraction)
    return DigitsData(d.x_train.reshape(-1, *INPUT_SHAPE).astype(np.float32), d.y_train,
                      d.x_test.reshape(-1, *INPUT_SHAPE).astype(np.float32), d.y_test)


def training_report(path: str | Path) -> dict[str, str]:
    """The metadata the training script stored in an ONNX file (test accuracy, seed, ...)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}
