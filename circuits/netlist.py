"""The object every generator returns: a PySpice circuit plus what to run and read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimc.circuits.safety import check_name, netlist_text
from aimc.circuits.spice import SimResult, StepPlan, batch_text, simulate
from PySpice.Spice.Netlist import Circuit


@dataclass
class Design:
    """A generated netlist: a PySpice ``Circuit`` (small blocks as PySpice objects,
    large regular arrays as raw SPICE text inside it for speed), the analysis line,
    the ngspice vectors to save and read back, and metadata for post-processing.

    ``text()`` is the complete netlist; ``write()`` saves it as ``.cir``;
    ``simulate()`` runs it in this process's ngspice engine.
    """

    circuit: Circuit
    analysis: str
    saves: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    # write .save lines for an operating point too: only when the saved vectors are
    # found at once (nodes named first in the netlist, e.g. the crossbar's probes)
    save_lines: bool = False
    step_plan: StepPlan | None = None     # time points a transient lands on (spice.py)

    def text(self) -> str:
        # the title, options, saves and analysis go through the one netlist-text gate;
        # the circuit's own lines are built from checked names and numbers
        netlist_text(str(self.circuit.title), "circuit title")
        lines = [str(self.circuit).rstrip("\n")]
        # KLU (ngspice >= 40 built with it) orders a 2-D crossbar mesh in milliseconds
        # where the default Sparse 1.3 Markowitz search takes seconds already at
        # 64x64; older ngspice ignores the option. See NOTES in README.
        lines.append(".options klu")
        for opt in self.options:
            lines.append(netlist_text(opt, "netlist option line"))
        # An operating point keeps every vector (one value each) and the runner reads
        # the wanted ones by name afterwards: ngspice finds each .save name by a scan
        # of the output names in netlist order (beginPlot in outitf.c), ~67 million
        # string comparisons for 512 branch currents at 256x256, 40 % of the run.
        # Transients, and designs whose saved nodes come first (``save_lines``), save
        # only what is read.
        saved = [netlist_text(v, "saved vector") for v in self.saves]
        if self.save_lines or not self.analysis.strip().lower().startswith(".op"):
            # ngspice accepts long .save lines, but keep them readable
            for k in range(0, len(saved), 16):
                lines.append(".save " + " ".join(saved[k:k + 16]))
        lines.append(netlist_text(self.analysis, "analysis line"))
        lines.append(".end")
        return "\n".join(lines) + "\n"

    def netlist_hash(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()[:16]

    def write(self, folder: str | Path, name: str | None = None) -> Path:
        """Write the netlist to ``folder/name.cir`` (atomically) and return its path.
        The file runs as it is in ``ngspice -b`` (a netlist with the compiled cell
        device carries the ``pre_osdi`` line that loads its library: spice.batch_text)."""
        name = check_name(name or self.circuit.title.replace(" ", "_"), "netlist name")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.cir"
        tmp = path.with_suffix(".cir.tmp")
        tmp.write_text(batch_text(self.text()))
        tmp.replace(path)
        return path

    def simulate(self, timeout_s: float = 600.0, batch: bool = False) -> SimResult:
        """Run in this process's ngspice engine, or with ``batch=True`` in a separate
        ``ngspice -b`` process (faster for very large netlists; see spice.simulate_batch)."""
        return simulate(self.text(), self.saves, timeout_s, batch, self.step_plan)
