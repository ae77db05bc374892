"""MOSFET model cards: the project's generic cards, or a user's PDK library and corner."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aimc.circuits.safety import check_library_path, check_name, netlist_path


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

    A library is executable content to ngspice (a ``.control`` block inside it runs
    shell commands), so it is scanned and refused if it has one, or includes a file
    outside its own folder; ``trust_library=True`` skips the scan for a library you
    have reviewed. ``library`` is stored resolved, and checked again as the exact text
    written into the netlist.
    """

    nmos: str = "nch"
    pmos: str = "pch"
    library: str | None = None
    corner: str | None = None
    trust_library: bool = False

    def __post_init__(self) -> None:
        check_name(self.nmos, "NMOS model name")
        check_name(self.pmos, "PMOS model name")
        if self.corner is not None:
            check_name(self.corner, "corner")
            if self.library is None:
                raise ValueError("a corner was given without a library file")
        if not isinstance(self.trust_library, bool):
            raise ValueError(f"trust_library must be true or false, got {self.trust_library!r}")
        if self.library is not None:
            path = check_library_path(self.library, trust_library=self.trust_library)
            object.__setattr__(self, "library", str(path))

    @classmethod
    def from_library(cls, path: str | Path, nmos: str, pmos: str,
                     corner: str | None = None, trust_library: bool = False) -> MosfetModels:
        return cls(nmos=nmos, pmos=pmos, library=str(path), corner=corner,
                   trust_library=trust_library)

    def spice_lines(self) -> list[str]:
        """Lines to put at the top of a netlist."""
        if self.library is None:
            return [ln for ln in generic_card_text().splitlines() if ln.strip()]
        path = netlist_path(self.library)
        if self.corner is None:
            return [f".include {path}"]
        return [f".lib {path} {check_name(self.corner, 'corner')}"]


GENERIC = MosfetModels()
