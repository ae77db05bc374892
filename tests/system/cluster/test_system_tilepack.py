from __future__ import annotations

import itertools

import pytest
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import ima_matrices, layer_target
from aimc.system.cluster.tilepack import tile_and_pack, tile_matrix
from aimc.system.networks.mobilenetv2 import mobilenetv2


def test_alg1_tiles_shapes():
    tiles = tile_matrix("L", 600, 300, 256)
    shapes = sorted((t.rows, t.cols) for t in tiles)
    # 2 full row tiles x 1 full col tile, remainders 88 rows / 44 cols
    assert shapes == sorted([(256, 256), (256, 256), (88, 256), (256, 44), (256, 44), (88, 44)])
    assert sum(t.cells for t in tiles) == 600 * 300
    assert [t.name for t in tile_matrix("M", 100, 50)] == ["M_tile_0_0"]


def _overlap(a, b) -> bool:
    return not (a.x + a.tile.cols <= b.x or b.x + b.tile.cols <= a.x
                or a.y + a.tile.rows <= b.y or b.y + b.tile.rows <= a.y)


def test_packing_conserves_area_and_has_no_overlap():
    mats = [(f"m{i}", h, w) for i, (h, w) in enumerate(
        [(300, 40), (64, 64), (256, 100), (17, 250), (512, 512), (30, 30), (200, 90)])]
    res = tile_and_pack(mats, 256)
    assert res.used_cells == sum(h * w for _, h, w in mats)
    placed = [p for b in res.bins for p in b.placements]
    assert len(placed) == len(res.tiles)
    for b in res.bins:
        for p in b.placements:
            assert 0 <= p.x and p.x + p.tile.cols <= 256 and 0 <= p.y and p.y + p.tile.rows <= 256
        for a, c in itertools.combinations(b.placements, 2):
            assert not _overlap(a, c)
    assert res.n_ima >= -(-res.used_cells // 256**2)


def test_mobilenetv2_needs_34_imas():
    cfg = ClusterConfig()
    net = mobilenetv2()
    mats = [m for layer in net.layers if layer_target(layer, cfg) == "ima"
            for m in ima_matrices(layer, cfg)]
    res = tile_and_pack(mats, 256)
    assert res.n_ima == 34  # seed 001 Sec. VI
    assert res.used_cells == sum(h * w for _, h, w in mats)
    below = [b for b in res.bins if b.utilization < 0.84]
    assert len(below) == 1  # "only the final one showing a utilization below 84 %"
    assert sum(b.utilization == 1.0 for b in res.bins) > 34 / 2  # "100 % on most"


def test_bad_tile_arguments():
    with pytest.raises(ValueError):
        tile_matrix("x", 0, 5)
