"""Netlist injection (issue 14, item 1): a model-library path that *resolves* to text
with line breaks, names with a trailing newline, and libraries that run commands.

The attack: ``pdk/models.lib`` is an innocent-looking symlink to a file inside a
directory named ``x"⏎.control⏎shell touch PWNED⏎.endc⏎*``. Before the fix the
resolved path went into ``.include "…"`` and ngspice ran ``shell touch PWNED``
while the results looked normal. Each test asserts the refusal *and* that PWNED
was never created.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from aimc.circuits.crossbar import CrossbarConfig, crossbar_design, simulate_op
from aimc.circuits.dac import PwmDacConfig
from aimc.circuits.devices import LinearDevice
from aimc.circuits.models import MosfetModels, generic_card_text
from aimc.circuits.safety import (
    LINE_BREAKS,
    NetlistInjectionError,
    check_name,
    netlist_path,
    netlist_text,
)

EVIL_DIR = 'x"\n.control\nshell touch PWNED\n.endc\n*'


def _plant(tmp_path: Path, monkeypatch) -> Path:
    """Lay out the attack in tmp_path (the working directory) and return PWNED's path."""
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / EVIL_DIR
    evil.mkdir()
    (evil / "m.lib").write_text(generic_card_text())
    # the .include "…/x" that the broken line opens must exist for ngspice to go on
    (tmp_path / "x").write_text(generic_card_text())
    (tmp_path / "pdk").mkdir()
    (tmp_path / "pdk" / "models.lib").symlink_to(evil / "m.lib")
    return tmp_path / "PWNED"


def test_symlinked_library_resolving_to_a_control_block_is_refused(tmp_path, monkeypatch):
    pwned = _plant(tmp_path, monkeypatch)
    for typed in ("pdk/models.lib", str(tmp_path / "pdk" / "models.lib"),
                  "pdk/../pdk/models.lib"):
        with pytest.raises(NetlistInjectionError, match="resolves"):
            MosfetModels(library=typed)
        with pytest.raises(NetlistInjectionError, match="resolves"):
            MosfetModels.from_library(typed, nmos="nch", pmos="pch", trust_library=True)
    assert not pwned.exists()


def test_format_time_check_cannot_be_bypassed(tmp_path, monkeypatch):
    """Even a MosfetModels whose stored path was changed after validation is refused
    when the netlist line is formatted, and nothing runs."""
    pwned = _plant(tmp_path, monkeypatch)
    good = tmp_path / "good.lib"
    good.write_text(generic_card_text())
    models = MosfetModels(library=str(good))
    object.__setattr__(models, "library", str(tmp_path / EVIL_DIR / "m.lib"))
    cfg = CrossbarConfig(rows=2, cols=2, cell="1T1R", mosfets=models)
    g, x = np.full((2, 2), 10e-6), np.ones(2)
    with pytest.raises(NetlistInjectionError, match="contains"):
        crossbar_design(cfg, g, x).text()
    with pytest.raises(NetlistInjectionError):
        simulate_op(cfg, g, x)
    assert not pwned.exists()


def test_dac_config_toml_with_a_hostile_library_is_refused(tmp_path, monkeypatch):
    pwned = _plant(tmp_path, monkeypatch)
    toml = tmp_path / "dac.toml"
    toml.write_text('[dac]\ndriver = "inverter"\n\n[dac.mosfets]\nlibrary = "pdk/models.lib"\n')
    with pytest.raises(NetlistInjectionError, match="resolves"):
        PwmDacConfig.from_toml(toml)
    toml.write_text('[dac]\n[dac.mosfets]\nlibrary = "pdk/models.lib"\ntrust_library = true\n')
    with pytest.raises(NetlistInjectionError, match="resolves"):
        PwmDacConfig.from_toml(toml)
    assert not pwned.exists()


def test_line_break_set_is_exactly_splitlines():
    """LINE_BREAKS holds every code point at which str.splitlines() breaks a line."""
    breaks = {c for c in map(chr, range(sys.maxunicode + 1)) if len(f"a{c}b".splitlines()) > 1}
    assert breaks == set(LINE_BREAKS)
    for c in [*LINE_BREAKS, "\x00", '"', "'"]:
        with pytest.raises(NetlistInjectionError):
            netlist_text(f"tt{c}shell touch PWNED", "corner")
        with pytest.raises(NetlistInjectionError):
            netlist_path(f"/tmp/a{c}b.lib")
        with pytest.raises(NetlistInjectionError):
            MosfetModels(nmos=f"nch{c}")
    assert netlist_text("tt_1.0 V", "x") == "tt_1.0 V"


@pytest.mark.parametrize("bad", ["nch\n", "nch\r\n", "nch\u2028", "a" * 65, "1nch", ""])
def test_names_are_matched_whole(bad):
    with pytest.raises(NetlistInjectionError):
        check_name(bad)
    assert check_name("nch_1") == "nch_1"


def test_trailing_newline_in_names_and_nodes(tmp_path):
    cfg = CrossbarConfig(rows=2, cols=2)
    design = crossbar_design(cfg, np.full((2, 2), 10e-6), np.ones(2))
    with pytest.raises(NetlistInjectionError, match="netlist name"):
        design.write(tmp_path, "xbar\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(NetlistInjectionError):
        dataclasses.replace(cfg, name="xbar\n")
    with pytest.raises(ValueError, match="node"):
        LinearDevice().spice("R1", "r1\n", "c1", 1e-6)


def test_design_header_lines_go_through_the_gate():
    design = crossbar_design(CrossbarConfig(rows=2, cols=2), np.full((2, 2), 10e-6), np.ones(2))
    design.options.append(".options gmin=1e-12\n.control")
    with pytest.raises(NetlistInjectionError, match="option"):
        design.text()


# ------------------------------------------------------------------ library content
def _lib(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(f"* test PDK\n{generic_card_text()}\n{body}\n")
    return p


@pytest.mark.parametrize("body,match", [
    (".control\nshell touch PWNED\n.endc", "run commands"),
    ("  .CONTROL\n", "run commands"),
    ("shell touch PWNED", "run commands"),
    (".include ../outside.lib", "outside"),
    ('.lib "/etc/hostname" tt', "outside"),
    (".include\n+ ../outside.lib", "outside"),
    (".inc sub/inner.lib", "run commands"),      # followed into its own folder
])
def test_library_that_runs_commands_is_refused_unless_trusted(tmp_path, monkeypatch, body, match):
    monkeypatch.chdir(tmp_path)
    _lib(tmp_path, "outside.lib", "")
    _lib(tmp_path / "pdk" / "sub", "inner.lib", ".control\nshell touch PWNED\n.endc")
    lib = _lib(tmp_path / "pdk", "models.lib", body)
    with pytest.raises(ValueError, match=match) as err:
        MosfetModels(library=str(lib))
    assert "trust_library=True" in str(err.value)
    trusted = MosfetModels(library=str(lib), trust_library=True)
    assert trusted.spice_lines() == [f'.include "{lib.resolve()}"']
    assert not (tmp_path / "PWNED").exists()


def test_library_with_sections_and_own_includes_is_accepted(tmp_path):
    inner = _lib(tmp_path / "pdk" / "sub", "inner.lib", "")
    lib = tmp_path / "pdk" / "models.lib"
    lib.write_text(f".lib tt\n.include sub/{inner.name}\n.endl tt\n"
                   f'.lib ss\n.lib "{lib}" tt\n.endl ss\n')
    models = MosfetModels(library=str(lib), corner="ss")
    assert models.spice_lines() == [f'.lib "{lib.resolve()}" ss']
    assert models.trust_library is False
