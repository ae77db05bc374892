"""Where each layer of a network runs, as the network executor needs to know it.

The network executor (:mod:`aimc.system.array.executor`) runs weight layers placed on the
IMA as matrix-vector products on analog tiles, and every other layer digitally at 8 bit.
The placement comes from the caller: :class:`aimc.system.cluster.model.ClusterPlacement`
gives exactly the cluster model's layer -> target mapping (so accuracy, latency and energy
describe one mapping); :class:`TilePlacement` (the default) puts every weight layer on the
tiles. Both split grouped and depth-wise layers into block-diagonal matrices with
:func:`groups_per_matrix`, the rule of the cluster's TILE&PACK (seed 001 Sec. V-C).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

from aimc.system.networks.graph import DWCONV, Layer

IMA, DWA, CORES = "ima", "dwa", "cores"


def groups_per_matrix(layer: Layer, size: int, c_job: int) -> int:
    """Groups of a grouped / depth-wise layer packed block-diagonally into one matrix:
    ``c_job`` channels per job for depth-wise layers, as many groups as fit one
    ``size`` x ``size`` crossbar for other grouped convolutions (a divisor of groups)."""
    g = layer.groups
    if g == 1:
        return 1
    if layer.kind == DWCONV:
        want = min(c_job, g)
    else:
        want = max(1, min(size // max(1, layer.xbar_rows), size // max(1, layer.xbar_cols), g))
    asked = want
    while g % want:
        want -= 1
    if layer.kind == DWCONV and want != asked:
        warnings.warn(f"{layer.name}: c_job = {asked} does not divide its {g} channels; "
                      f"running c_job = {want}, the largest divisor (choose a c_job that "
                      f"divides {g} to keep the jobs you asked for)", stacklevel=2)
    return want


class Placement(Protocol):
    """A layer -> target mapping: ``target`` is "ima", "dwa" or "cores"."""

    @property
    def tile_size(self) -> int: ...

    def target(self, layer: Layer) -> str: ...

    def groups_per_matrix(self, layer: Layer) -> int: ...


@dataclass
class TilePlacement:
    """Every weight layer (convolutions, depth-wise, FC) on tiles of ``tile_size``."""

    tile_size: int = 256     # FACTS.md: HERMES / IMA crossbar 256 x 256
    c_job: int = 16          # seed 001 Sec. V-C: 16 depth-wise channels per IMA job

    def target(self, layer: Layer) -> str:
        return IMA if layer.has_weights else CORES

    def groups_per_matrix(self, layer: Layer) -> int:
        return groups_per_matrix(layer, self.tile_size, self.c_job)
