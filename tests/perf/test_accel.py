"""The compiled build (``emulator.accel``): used only while current, and the same results.

``make test`` runs the suite once on the Python sources and once on the compiled build; these
tests check the switch itself: what decides between the two, and that the compiled modules
give the golden fingerprint (the simulated results of 12 whole migrations).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import accel


def test_the_environment_decides_and_the_modules_follow() -> None:
    """DCBM_EMU_ACCEL=0: every hot module from its source; =1: every one from the build."""
    mode = os.environ.get(accel.ENV, "auto")
    files = [sys.modules[m].__file__ or "" for m in accel.MODULES if m in sys.modules]
    assert files, "no hot module imported"
    compiled = [f.endswith(accel.EXT_SUFFIX) for f in files]
    assert all(compiled) or not any(compiled)  # all or none
    assert all(compiled) == accel.ACTIVE
    if mode == "0":
        assert not accel.ACTIVE and "DCBM_EMU_ACCEL=0" in accel.STATUS
    elif mode == "1":
        assert accel.ACTIVE
        assert all(Path(f).is_relative_to(accel.BUILD_DIR) for f in files)
    else:
        assert accel.check()[0] == accel.ACTIVE


def _fake_build(tmp: Path) -> tuple[Path, Path]:
    """A source tree and a manifest for it (empty extension files): what check() reads."""
    root, build = tmp / "src", tmp / "build"
    modules = {}
    for m in accel.MODULES:
        src = accel._source(m, root)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {m}\n")
        ext = Path("lib", m.replace(".", "/") + accel.EXT_SUFFIX)
        (build / ext).parent.mkdir(parents=True, exist_ok=True)
        (build / ext).write_bytes(b"")
        modules[m] = {"sha256": accel._digest(src), "ext": str(ext)}
    shared = Path("lib", "x__mypyc" + accel.EXT_SUFFIX)
    (build / shared).write_bytes(b"")
    (build / accel.MANIFEST.name).write_text(json.dumps({
        "interpreter": accel._interpreter(), "mypy": "test", "shared": str(shared),
        "modules": modules}))
    return root, build


def test_an_edited_source_makes_the_whole_build_stale(tmp_path: Path) -> None:
    root, build = _fake_build(tmp_path)
    assert accel.check(root, build) == (True, f"compiled with mypyc test ({len(accel.MODULES)} "
                                              "modules)")
    src = accel._source("hdl_model.ptdma_engine", root)
    src.write_text(src.read_text() + "# a hardware designer's change\n")
    ok, why = accel.check(root, build)
    assert not ok and why.startswith("stale: hdl_model/ptdma_engine.py changed")


def test_another_interpreter_a_missing_file_or_no_build_is_not_used(tmp_path: Path) -> None:
    root, build = _fake_build(tmp_path)
    manifest = build / accel.MANIFEST.name
    saved = manifest.read_text()
    data = json.loads(saved)
    data["interpreter"] = "cpython-39 3.9.0 .so"
    manifest.write_text(json.dumps(data))
    assert accel.check(root, build) == (False, "built by another Python (make accel)")
    manifest.write_text(saved)
    (build / data["modules"]["emulator.bus"]["ext"]).unlink()
    ok, why = accel.check(root, build)
    assert not ok and why.startswith("incomplete:")
    shutil.rmtree(build)
    assert accel.check(root, build) == (False, "not built (make accel)")


def _env(mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env[accel.ENV] = mode
    return env


def test_required_build_that_is_missing_fails_loudly(tmp_path: Path) -> None:
    """DCBM_EMU_ACCEL=1 with no current build: an error at import, never a silent fallback."""
    root = tmp_path / "tree"
    shutil.copytree(accel.ROOT / "emulator", root / "emulator",
                    ignore=shutil.ignore_patterns("__pycache__", "experiments"))
    proc = subprocess.run([sys.executable, "-c", "import emulator"], cwd=root,
                          env=_env("1"), capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "AccelError: DCBM_EMU_ACCEL=1 but the compiled build is not built" in proc.stderr


def test_compiled_build_gives_the_golden_fingerprint() -> None:
    """The 12 migrations of tests/perf/fingerprint.py, run on the compiled modules."""
    ok, why = accel.check()
    if not ok:
        pytest.skip(f"the compiled build is {why}")
    proc = subprocess.run([sys.executable, "-m", "tests.perf.fingerprint"], cwd=accel.ROOT,
                          env=_env("1"), capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "all identical"


def test_the_cli_says_when_a_build_exists_but_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    monkeypatch.setattr(accel, "MANIFEST", manifest)
    monkeypatch.setattr(accel, "ACTIVE", False)
    monkeypatch.setattr(accel, "STATUS", "Python sources: the compiled build is stale: x.py "
                        "changed since it was compiled (make accel)")
    monkeypatch.setenv(accel.ENV, "auto")
    assert accel.notice() is None  # never built: nothing to say
    manifest.write_text("{}")
    assert accel.notice() == ("dcbm-emu: running the Python sources: the compiled build is "
                              "stale: x.py changed since it was compiled (make accel)")
    monkeypatch.setenv(accel.ENV, "0")
    assert accel.notice() is None  # asked for
    monkeypatch.setenv(accel.ENV, "auto")
    monkeypatch.setattr(accel, "ACTIVE", True)
    assert accel.notice() is None
