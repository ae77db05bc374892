"""MOSFET model cards: the project's generic cards, or a user's PDK library and corner."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aimc.circuits.safety import check_library_path, check_name


def generic_card_text() -> str:
    """The shipped generic level-1 cards (``netlists/models/generic.lib``)."""
    return resources.files("aimc.netlists").joinpath("models/generic.lib").read_text()


@dataclass(frozen=True)
class MosfetModels:
    """Which NMOS/PMOS models a netlist uses and where their cards come from.

    ``library=None`` inlines the generic cards (model names ``nch``/``pch``), so a
    written netlist is self-contained. With a PDK, ``library`` is the model file,
    ``corner`` its ``.lib`` section (or None for a plain ``.include``), and
    ``nmos``/``pmos`` the model names it defines.
    """

    nmos: str = "nch"
    pmos: str = "pch"
    library: str | None = None
    corner: str | None = None

    def __post_init__(self) -> None:
        check_name(self.nmos, "NMOS model name")
        check_name(self.pmos, "PMOS model name")
        if self.corner is not None:
            check_name(self.corner, "corner")
            if self.library is None:
                raise ValueError("a corner was given without a library file")
        if self.library is not None:
            object.__setattr__(self, "library", str(check_library_path(self.library)))

    @classmethod
    def from_library(cls, path: str | Path, nmos: str, pmos: str,
                     corner: str | None = None) -> MosfetModels:
        return cls(nmos=nmos, pmos=pmos, library=str(path), corner=corner)

    def spice_lines(self) -> list[str]:
        """Lines to put at the top of a netlist."""
        if self.library is None:
            return [ln for ln in generic_card_text().splitlines() if ln.strip()]
        if self.corner is None:
            return [f'.include "{self.library}"']
        return [f'.lib "{self.library}" {self.corner}']


GENERIC = MosfetModels()
