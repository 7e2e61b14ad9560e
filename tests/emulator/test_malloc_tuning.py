"""glibc malloc tuning (``host_backing.tune_malloc``): set once, never over the user's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tuned(env_extra: dict[str, str]) -> str:
    """``MALLOC_TUNED`` in a fresh interpreter with ``env_extra`` in its environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "DCBM_EMU_MALLOC_TUNING")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", "from emulator import host_backing as h; print(h.MALLOC_TUNED)"],
        capture_output=True, text=True, env=env, check=True, cwd=ROOT,
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_by_default_and_never_over_the_environment() -> None:
    glibc = bool(os.confstr("CS_GNU_LIBC_VERSION")) if hasattr(os, "confstr") else False
    assert _tuned({}) == str(glibc)
    assert _tuned({"DCBM_EMU_MALLOC_TUNING": "0"}) == "False"
    assert _tuned({"MALLOC_TOP_PAD_": "1048576"}) == "False"  # the user's own malloc settings
    assert _tuned({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}) == "False"
