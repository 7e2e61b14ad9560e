"""The compiled build of the emulator's hot modules (mypyc), used only while it is current.

The event kernel, memory, bus, IOMMU, interrupt controller and the PTDMA engine model run
once per event or access. ``make accel`` (``dcbm-emu accel build``) compiles them
with mypyc, mypy's compiler for type-annotated Python, into ``build/accel/``. Importing
``emulator`` calls ``install()``, which puts a finder first on ``sys.meta_path`` that loads
those modules from the build: all of them or none, and only while every source still has the
SHA-256 it was compiled from and the interpreter is the one that built it (an edited module
makes the whole build stale, as a ``.pyc`` would be). Otherwise everything runs from the
Python sources. The drivers and the migration core are never compiled, so an edit to them
takes effect at once.

``DCBM_EMU_ACCEL``: unset or ``auto`` uses a current build; ``0`` never does; ``1`` requires it
(``AccelError`` if it is missing or stale). The compiled modules are the same code, so the
simulated results are identical; only host seconds change (``tests/perf/test_accel.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# The hot modules (py-spy: the event kernel, the model and the memory they use run per
# event). mypyc compiles them as one group: they call each other natively.
MODULES = (
    "emulator.event_kernel",
    "emulator.sync",
    "emulator.bus",
    "emulator.cpu",
    "emulator.memory",
    "emulator.iommu",
    "emulator.interrupts",
    "emulator.numa_timing",
    "emulator.dma_port",
    "emulator.clock",
    "emulator.frame_allocator",
    "hdl_model.registers",
    "hdl_model.ptdma_engine",
    "hdl_model.timing",
    "hdl_model.descriptor",
)
ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "accel"
MANIFEST = BUILD_DIR / "manifest.json"
EXT_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))
ENV = "DCBM_EMU_ACCEL"

# Set by install(): whether the compiled modules are in use, and why (shown by the CLI).
ACTIVE = False
STATUS = "not checked"
_installed = False


class AccelError(RuntimeError):
    """DCBM_EMU_ACCEL=1 but the compiled build is missing or stale, or a build failed."""


def _mode() -> str:
    """``DCBM_EMU_ACCEL`` as "off" (0), "required" (1) or "auto" (unset, anything else)."""
    value = os.environ.get(ENV, "auto").strip().lower()
    if value in ("0", "off", "no", "false"):
        return "off"
    return "required" if value in ("1", "on", "yes", "true") else "auto"


def _source(module: str, root: Path = ROOT) -> Path:
    return root / (module.replace(".", "/") + ".py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _interpreter() -> str:
    """What a build is only valid for: this CPython's version and extension ABI."""
    return f"{sys.implementation.cache_tag} {sys.version.split()[0]} {EXT_SUFFIX}"


def _mypy_version() -> str:
    try:
        from mypy.version import __version__
    except ImportError:
        return "none"
    return str(__version__)


def _current(root: Path, build_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """(the build's manifest, or None when the build is not usable; why)."""
    try:
        manifest: dict[str, Any] = json.loads((build_dir / MANIFEST.name).read_text())
    except (OSError, ValueError):
        return None, "not built (make accel)"
    if manifest.get("interpreter") != _interpreter():
        return None, "built by another Python (make accel)"
    files = manifest.get("modules", {})
    if sorted(files) != sorted(MODULES):
        return None, "built for another module list (make accel)"
    for module in MODULES:
        src = _source(module, root)
        if not src.exists() or _digest(src) != files[module]["sha256"]:
            rel = src.relative_to(root)
            return None, f"stale: {rel} changed since it was compiled (make accel)"
        if not (build_dir / files[module]["ext"]).exists():
            return None, f"incomplete: {files[module]['ext']} is missing (make accel)"
    if not (build_dir / manifest["shared"]).exists():
        return None, f"incomplete: {manifest['shared']} is missing (make accel)"
    return manifest, f"compiled with mypyc {manifest.get('mypy', '?')} ({len(MODULES)} modules)"


def check(root: Path = ROOT, build_dir: Path = BUILD_DIR) -> tuple[bool, str]:
    """(current, why): is the build in ``build_dir`` usable for the sources under ``root``
    and this Python?"""
    manifest, why = _current(root, build_dir)
    return manifest is not None, why


def notice() -> str | None:
    """What the CLI says on stderr when a build exists but is not used (stale, or made by
    another Python): the run is correct but slower, and ``make accel`` fixes it."""
    if ACTIVE or _mode() == "off":
        return None
    if not MANIFEST.exists():
        return None
    return f"dcbm-emu: running the Python sources: {STATUS.split(': ', 1)[-1]}"


class _Finder(importlib.abc.MetaPathFinder):
    """Serves the compiled modules (and mypyc's shared library for them) from the build."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        f = self.files.get(fullname)
        if f is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(f))
        return importlib.util.spec_from_file_location(fullname, str(f), loader=loader)


def install() -> None:
    """Use the compiled modules if the build is current (see the module docstring). Runs
    once, from ``emulator/__init__.py``, before any of them is imported."""
    global ACTIVE, STATUS, _installed
    if _installed:
        return
    _installed = True
    mode = _mode()
    if mode == "off":
        STATUS = f"Python sources ({ENV}=0)"
        return
    manifest, why = _current(ROOT, BUILD_DIR)
    early = [m for m in MODULES if m in sys.modules]
    if manifest is not None and early:
        manifest, why = None, f"{early[0]} was imported before emulator.accel.install()"
    if manifest is None:
        STATUS = f"Python sources: the compiled build is {why}"
        if mode == "required":
            raise AccelError(f"{ENV}=1 but the compiled build is {why}")
        return
    files = {m: BUILD_DIR / manifest["modules"][m]["ext"] for m in MODULES}
    shared = manifest["shared"]
    files[Path(shared).name[: -len(EXT_SUFFIX)]] = BUILD_DIR / shared
    sys.meta_path.insert(0, _Finder(files))
    ACTIVE = True
    STATUS = why


# mypycify in a child process: setuptools' build_ext into our own folders, not in place
# (compiled modules next to their sources would shadow them even when stale). multi_file:
# one C file per module, which gcc compiles in 29 s instead of 44 s for the single file,
# with the same speed (4 KiB target, alternating A/B runs).
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
paths, target = sys.argv[1].split(","), sys.argv[2]
setup(name="dcbm_emu_accel",
      ext_modules=mypycify(paths, opt_level="3", target_dir=target, multi_file=True),
      script_args=sys.argv[3:])
"""


def build(force: bool = False) -> int:
    """Compile MODULES into ``build/accel`` unless the build there is current; 0 on success."""
    manifest, why = _current(ROOT, BUILD_DIR)
    if manifest is not None and not force and manifest.get("mypy") == _mypy_version():
        print(f"accel: up to date ({why})")
        return 0
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        raise AccelError("no C compiler: install gcc (apt-get install -y gcc python3-dev)")
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        raise AccelError("no Python.h: install the Python headers (apt-get install -y python3-dev)")
    sources = {m: _source(m) for m in MODULES}
    digests = {m: _digest(p) for m, p in sources.items()}  # what is compiled, read first
    tmp = BUILD_DIR / "tmp"
    lib = BUILD_DIR / "lib"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(lib, ignore_errors=True)
    MANIFEST.unlink(missing_ok=True)
    tmp.mkdir(parents=True)
    paths = ",".join(str(p.relative_to(ROOT)) for p in sources.values())
    print(f"accel: compiling {len(MODULES)} modules with mypyc {_mypy_version()} "
          "(under a minute)", flush=True)
    cmd = [sys.executable, "-c", _SETUP, paths, str(tmp / "c"), "build_ext",
           "--build-lib", str(lib), "--build-temp", str(tmp / "o")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise AccelError(f"mypyc failed:\n{tail}")
    shared = sorted(lib.glob(f"*__mypyc{EXT_SUFFIX}"))
    if len(shared) != 1:
        raise AccelError(f"expected one mypyc shared library in {lib}, found {len(shared)}")
    modules = {}
    for m in MODULES:
        ext = lib / (m.replace(".", "/") + EXT_SUFFIX)
        if not ext.exists():
            raise AccelError(f"mypyc built no {ext}")
        modules[m] = {"sha256": digests[m], "ext": str(ext.relative_to(BUILD_DIR))}
    MANIFEST.write_text(json.dumps({
        "interpreter": _interpreter(),
        "mypy": _mypy_version(),
        "shared": str(shared[0].relative_to(BUILD_DIR)),
        "modules": modules,
    }, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"accel: built in {BUILD_DIR.relative_to(ROOT)}: {check()[1]}")
    return 0


def cmd_accel(args: argparse.Namespace) -> int:
    """Compile the hot modules with mypyc (``build``, only when stale unless ``--force``),
    or say whether the build is current (``status``; exit 1 when it is not)."""
    if args.action == "build":
        try:
            return build(force=args.force)
        except AccelError as e:
            print(f"accel: {e}", file=sys.stderr)
            return 1
    ok, why = check()
    print(why if ok else f"Python sources: the compiled build is {why}")
    return 0 if ok else 1


def register(sub: Any) -> None:
    """Add the ``accel`` sub-command to ``dcbm-emu``."""
    p = sub.add_parser("accel", help="compile the hot modules with mypyc (make accel)",
                       description=cmd_accel.__doc__)
    p.add_argument("action", nargs="?", choices=("build", "status"), default="status")
    p.add_argument("--force", action="store_true", help="rebuild even when current")
    p.set_defaults(func=cmd_accel)
