from __future__ import annotations

import pytest
from aimc.system.networks.graph import CONV, DWCONV, Layer, Network
from aimc.system.networks.mobilenetv2 import ARCH_TABLE, mobilenetv2


def test_mobilenetv2_macs_and_params_match_published():
    net = mobilenetv2()
    # Sandler et al. 2018, Table 3: 300 M multiply-adds, 3.4 M parameters (width 1.0, 224)
    assert net.macs == pytest.approx(300e6, rel=0.01)
    assert net.weight_count == pytest.approx(3.4e6, rel=0.03)


def test_mobilenetv2_structure():
    net = mobilenetv2()
    n_blocks = sum(n for _, _, n, _ in ARCH_TABLE)
    assert n_blocks == 17
    assert sum(layer.kind == DWCONV for layer in net.layers) == 17
    # residuals: every repeated block (stride 1, same channels) -> 17 - 7 first blocks + 0
    adds = [layer for layer in net.layers if layer.kind == "add"]
    assert len(adds) == 10
    assert net.layer("conv_last").cout == 1280 and net.layer("fc").cout == 1000
    assert net.layer("conv_last").h_out == 7


def test_layer_macs_independent():
    conv = Layer("c", CONV, 16, 32, 10, 10, 5, 5, kh=3, kw=3, stride=2)
    assert conv.macs == 16 * 9 * 32 * 25
    dw = Layer("d", DWCONV, 32, 32, 10, 10, 10, 10, kh=3, kw=3, groups=32)
    assert dw.macs == 9 * 32 * 100 and dw.xbar_rows == 9 and dw.xbar_cols == 1


@pytest.mark.parametrize("kwargs", [dict(cin=0), dict(groups=3), dict(kind="bogus")])
def test_bad_layers(kwargs):
    base = dict(name="x", kind=CONV, cin=16, cout=16, h_in=4, w_in=4, h_out=4, w_out=4)
    base.update(kwargs)
    with pytest.raises(ValueError):
        Layer(**base)


def test_duplicate_layer_names():
    a = Layer("x", CONV, 4, 4, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="duplicate"):
        Network("n", [a, a], (4, 2, 2))


def test_width_multiplier_scales_macs():
    assert mobilenetv2(0.5).macs < 0.4 * mobilenetv2().macs
    with pytest.raises(ValueError):
        mobilenetv2(0)
