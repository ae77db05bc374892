"""Train the two digits CNNs that aimc ships, export them to ONNX.

PyTorch is an optional extra used here only (``pip install -e '.[train]'``); nothing in
the package or the tests imports it. The data are scikit-learn's digits with exactly the
split of :func:`aimc.system.networks.digits_mlp.digits_data` (1,437 training, 360 test
images), as NCHW ``(N, 1, 8, 8)`` images scaled to [0, 1] like the MLP's inputs.

- ``digits_cnn``: conv3x3-16, ReLU, conv3x3-32, ReLU, max-pool 2x2, FC 512-10.
- ``digits_mobilenet``: a MobileNetV2-style network: a 3x3 stem (16 channels), three
  inverted residual blocks (1x1 expansion, 3x3 depth-wise, 1x1 linear projection,
  BatchNorm + ReLU6, residual add where the shape allows; the second block has stride 2),
  a 1x1 head (64), global average pooling and an FC 64-10.

Both are trained with Adam and a cosine learning-rate schedule, seeded and with
``torch.use_deterministic_algorithms(True)`` on one thread, then exported in eval mode
(BatchNorm folded into the convolutions by the exporter's constant folding). The float
test accuracy the script measures (in PyTorch) is written into each ONNX file's metadata
(``test_accuracy``, ``n_correct``, ``n_test``, ``seed``, ``torch``), where the test
``tests/system/networks/test_digits_cnn.py`` checks it again with
``onnx.reference.ReferenceEvaluator``.

    .venv/bin/pip install torch==2.13.0       # once (CPU build)
    .venv/bin/python benchmarks/train_digits_cnn.py [--out system/networks/data] [--json]
    .venv/bin/python benchmarks/train_digits_cnn.py --prune 0.5 --finetune-epochs 10 \\
        --only cnn --out /tmp/pruned                # magnitude pruning + short fine-tune
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("this script needs PyTorch: .venv/bin/pip install torch==2.13.0 "
             "(or pip install -e '.[train]')")

from aimc.system.networks.digits_cnn import digits_images

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "system" / "networks" / "data"


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
             act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion -> 3x3 depth-wise -> 1x1 linear projection (+ residual)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            _conv_bn(cin, hidden, 1),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            _conv_bn(hidden, cout, 1, act=False))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class DigitsMobileNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(1, 16, 3),
            InvertedResidual(16, 16, 1, 4),
            InvertedResidual(16, 24, 2, 4),
            InvertedResidual(24, 24, 1, 4),
            _conv_bn(24, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


ARCHS = {"cnn": ("digits_cnn", DigitsCNN), "mobilenet": ("digits_mobilenet", DigitsMobileNet)}


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    return int((pred == y).sum()), int(len(y))


def _shift_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts by -1, 0 or +1 pixel in each direction (zero fill)."""
    n = x.shape[0]
    pad = nn.functional.pad(x, (1, 1, 1, 1))
    dy = torch.randint(0, 3, (n,), generator=gen)
    dx = torch.randint(0, 3, (n,), generator=gen)
    out = torch.empty_like(x)
    for a in range(3):
        for b in range(3):
            m = (dy == a) & (dx == b)
            if m.any():
                out[m] = pad[m, :, a:a + 8, b:b + 8]
    return out


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
           seed: int, masks: dict[str, torch.Tensor] | None = None) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = (len(x) + 63) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs
                                                * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            xb = _shift_augment(x[idx], gen)
            opt.zero_grad()
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            if masks:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        if name in masks:
                            p.mul_(masks[name])


def _magnitude_masks(model: nn.Module, fraction: float) -> dict[str, torch.Tensor]:
    """Per-layer unstructured magnitude pruning of the weights that go on crossbars
    (Linear and non-grouped Conv2d; depth-wise layers run digitally and stay dense)."""
    masks = {}
    for mname, m in model.named_modules():
        if not (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)):
            continue
        p = m.weight
        k = int(round(fraction * p.numel()))
        if k == 0:
            continue
        thr = p.detach().abs().flatten().kthvalue(k).values
        masks[f"{mname}.weight"] = (p.detach().abs() > thr).float()
        with torch.no_grad():
            p.mul_(masks[f"{mname}.weight"])
    return masks


def _export(model: nn.Module, path: Path, meta: dict[str, str]) -> None:
    import onnx

    model.eval()
    dummy = torch.zeros(1, 1, 8, 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=13,
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                  do_constant_folding=True)
    import warnings

    with warnings.catch_warnings():
        # the TorchScript exporter (deprecated in torch 2.9+) folds BatchNorm and needs
        # no onnxscript; the file it writes is plain opset-13 ONNX
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(model, (dummy,), str(path), dynamo=False, **kwargs)
        except TypeError:   # an older torch without the dynamo switch
            torch.onnx.export(model, (dummy,), str(path), **kwargs)
    m = onnx.load(str(path))
    m.producer_name = "aimc benchmarks/train_digits_cnn.py"
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def train_one(arch: str, seed: int, epochs: int, lr: float, out: Path, prune: float = 0.0,
              finetune_epochs: int = 0) -> dict:
    name, cls = ARCHS[arch]
    torch.manual_seed(seed)
    data = digits_images(seed=0)
    xtr = torch.tensor(data.x_train, dtype=torch.float32)
    ytr = torch.tensor(data.y_train, dtype=torch.long)
    xte = torch.tensor(data.x_test, dtype=torch.float32)
    yte = torch.tensor(data.y_test, dtype=torch.long)
    model = cls()
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    _train(model, xtr, ytr, epochs, lr, seed)
    n_ok, n = _accuracy(model, xte, yte)
    dense_acc = n_ok / n
    if prune > 0:
        masks = _magnitude_masks(model, prune)
        if finetune_epochs:
            _train(model, xtr, ytr, finetune_epochs, lr / 10, seed + 1, masks)
        n_ok, n = _accuracy(model, xte, yte)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"test_accuracy": f"{n_ok / n:.6f}", "n_correct": n_ok, "n_test": n,
            "seed": seed, "split": "aimc.system.networks.digits_mlp.digits_data(seed=0)",
            "epochs": epochs, "prune_fraction": prune, "finetune_epochs": finetune_epochs,
            "torch": torch.__version__}
    path = out / f"{name}.onnx"
    _export(model, path, meta)
    return {"network": name, "path": str(path), "test_accuracy": n_ok / n,
            "n_correct": n_ok, "n_test": n, "dense_accuracy": dense_acc,
            "n_params": n_params, "onnx_bytes": path.stat().st_size,
            "train_wall_s": wall, "train_cpu_s": cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", choices=sorted(ARCHS), action="append")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--prune", type=float, default=0.0,
                    help="unstructured magnitude pruning fraction after training (0-0.95)")
    ap.add_argument("--finetune-epochs", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 0.0 <= args.prune < 1.0:
        ap.error(f"--prune {args.prune}: give a fraction in [0, 1)")
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    results = [train_one(a, args.seed, args.epochs, args.lr, args.out, args.prune,
                         args.finetune_epochs) for a in (args.only or ["cnn", "mobilenet"])]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['network']:18s} test accuracy {r['test_accuracy'] * 100:6.2f} % "
                  f"({r['n_correct']}/{r['n_test']}), {r['n_params']} parameters, "
                  f"{r['onnx_bytes'] / 1024:.1f} kB ONNX, trained in {r['train_wall_s']:.1f} s "
                  f"wall / {r['train_cpu_s']:.1f} s CPU -> {r['path']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
