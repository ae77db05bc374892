"""TILE&PACK (seed 001, Alg. 1): split weight matrices into crossbar tiles, pack them on IMAs.

Tiling cuts a matrix of h rows x w columns into S x S tiles plus remainder tiles
(h mod S rows, w mod S columns); it never splits a matrix that fits. Packing uses the
open-source *rectpack* library exactly as the paper's footnote says: bin selection
"best fit" (``PackingBin.BBF``) and the *Maximal Rectangles Best Short Side Fit*
placement (``MaxRectsBssf``), offline (all tiles sorted first). Tiles are not rotated:
a rotated tile would swap crossbar inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rectpack import MaxRectsBssf, PackingBin, PackingMode, newPacker


@dataclass(frozen=True)
class Tile:
    name: str  # "<matrix>_tile_<i>_<j>"
    matrix: str
    rows: int
    cols: int

    @property
    def cells(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class Placement:
    tile: Tile
    x: int  # column offset in the crossbar
    y: int  # row offset in the crossbar


@dataclass
class ImaBin:
    index: int
    size: int
    placements: list[Placement] = field(default_factory=list)

    @property
    def used_cells(self) -> int:
        return sum(p.tile.cells for p in self.placements)

    @property
    def utilization(self) -> float:
        return self.used_cells / (self.size * self.size)


@dataclass
class PackResult:
    size: int
    tiles: list[Tile]
    bins: list[ImaBin]

    @property
    def n_ima(self) -> int:
        return len(self.bins)

    @property
    def used_cells(self) -> int:
        return sum(b.used_cells for b in self.bins)

    @property
    def utilization(self) -> float:
        return self.used_cells / (self.n_ima * self.size * self.size) if self.bins else 0.0


def tile_matrix(name: str, h: int, w: int, size: int = 256) -> list[Tile]:
    """Alg. 1 lines 3-22 for one matrix."""
    if h < 1 or w < 1:
        raise ValueError(f"matrix {name!r} has shape {h}x{w}")
    if size < 1:
        raise ValueError(f"crossbar size must be positive, got {size}")
    nh, h_rem = divmod(h, size)
    nw, w_rem = divmod(w, size)
    out: list[Tile] = []

    def add(i: int, j: int, th: int, tw: int) -> None:
        if th and tw:
            out.append(Tile(f"{name}_tile_{i}_{j}", name, th, tw))

    for i in range(nh):
        for j in range(nw):
            add(i, j, size, size)
    for j in range(nw):
        add(nh, j, h_rem, size)
    for i in range(nh):
        add(i, nw, size, w_rem)
    add(nh, nw, h_rem, w_rem)
    return out


def tile_all(matrices: list[tuple[str, int, int]], size: int = 256) -> list[Tile]:
    tiles: list[Tile] = []
    for name, h, w in matrices:
        tiles.extend(tile_matrix(name, h, w, size))
    return tiles


def sparse_tiles(name: str, w, size: int = 256) -> list[Tile]:
    """Tiles of a weight matrix (crossbar orientation) with its zeros skipped.

    All-zero rows (inputs that no output uses) and all-zero columns (pruned outputs) are
    removed first; the compacted matrix is tiled as :func:`tile_matrix` tiles it; tiles
    of the compacted matrix that are still all zero are not programmed. A matrix with
    no zero row, column or tile gives exactly the tiles of :func:`tile_matrix`; an
    all-zero matrix gives none."""
    import numpy as np

    nz = np.asarray(w) != 0
    keep_r, keep_c = np.flatnonzero(nz.any(axis=1)), np.flatnonzero(nz.any(axis=0))
    if keep_r.size == 0:
        return []
    c = nz[np.ix_(keep_r, keep_c)]
    out = []
    for t in tile_matrix(name, keep_r.size, keep_c.size, size):
        i, j = (int(v) for v in t.name.rsplit("_", 2)[-2:])
        if c[i * size:i * size + t.rows, j * size:j * size + t.cols].any():
            out.append(t)
    return out


def tile_and_pack(matrices: list[tuple[str, int, int]], size: int = 256) -> PackResult:
    """Alg. 1: tile every matrix, then BINBESTFIT + MAXRECTSBSSF."""
    return pack_tiles(tile_all(matrices, size), size)


def pack_tiles(tiles: list[Tile], size: int = 256) -> PackResult:
    """BINBESTFIT + MAXRECTSBSSF of tiles already cut (Alg. 1 lines 23-)."""
    packer = newPacker(
        mode=PackingMode.Offline, bin_algo=PackingBin.BBF, pack_algo=MaxRectsBssf,
        rotation=False,
    )
    by_name = {t.name: t for t in tiles}
    if len(by_name) != len(tiles):
        raise ValueError("matrix names must be unique")
    for t in tiles:
        packer.add_rect(t.cols, t.rows, rid=t.name)
    packer.add_bin(size, size, count=float("inf"))
    packer.pack()
    bins: list[ImaBin] = []
    for b_idx, abin in enumerate(packer):
        ib = ImaBin(b_idx, size)
        for rect in abin:
            ib.placements.append(Placement(by_name[rect.rid], rect.x, rect.y))
        bins.append(ib)
    placed = sum(len(b.placements) for b in bins)
    if placed != len(tiles):  # pragma: no cover - rectpack places every tile that fits
        raise RuntimeError(f"rectpack placed {placed} of {len(tiles)} tiles")
    return PackResult(size, tiles, bins)
