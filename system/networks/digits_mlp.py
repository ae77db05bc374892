"""A small real network for the array simulator: an MLP on scikit-learn's digits.

scikit-learn ships the UCI hand-written digits (1,797 images of 8x8 pixels, values
0-16, 10 classes) inside the package, so no download is needed. ``train_digits_mlp``
trains a 64-128-10 ReLU MLP (``MLPClassifier``, fixed seed) on 80 % of the images and
``export_onnx`` writes it as a real ONNX file (Gemm + Relu + Gemm, weights as
initializers) with ``onnx.helper`` so the ONNX import path with real weights is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN = 128


@dataclass
class DigitsData:
    x_train: np.ndarray   # (N, 64) in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits_data(seed: int = 0, test_fraction: float = 0.2) -> DigitsData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=test_fraction,
                                          random_state=seed, stratify=d.target)
    return DigitsData(xtr, ytr, xte, yte)


def train_digits_mlp(data: DigitsData, seed: int = 0, hidden: int = HIDDEN):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=1e-4,
                        max_iter=200, random_state=seed)
    import warnings

    from threadpoolctl import threadpool_limits

    # small matmuls: one BLAS thread (a multi-threaded OpenBLAS is ~8x slower here when
    # the machine is shared)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")   # ConvergenceWarning at max_iter is harmless here
        clf.fit(data.x_train, data.y_train)
    return clf


def export_onnx(clf, path: str | Path) -> Path:
    """Write a trained ``MLPClassifier`` (ReLU hidden layers) as ONNX Gemm/Relu nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    n_in = clf.coefs_[0].shape[0]
    nodes, inits = [], []
    x = "input"
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"fc{i + 1}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"fc{i + 1}.bias")]
        out = f"fc{i + 1}_out"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i + 1}.weight", f"fc{i + 1}.bias"],
                                      [out], name=f"fc{i + 1}"))
        x = out
        if i < len(clf.coefs_) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"relu{i + 1}_out"],
                                          name=f"relu{i + 1}"))
            x = f"relu{i + 1}_out"
    n_out = clf.coefs_[-1].shape[1]
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="aimc.system.networks.digits_mlp")
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def digits_mlp_onnx(path: str | Path, seed: int = 0) -> tuple[Path, DigitsData, float]:
    """Train, export; returns the ONNX path, the data and scikit-learn's test accuracy."""
    data = digits_data(seed)
    clf = train_digits_mlp(data, seed)
    return export_onnx(clf, path), data, float(clf.score(data.x_test, data.y_test))
