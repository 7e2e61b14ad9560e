"""DCBM, the DMA Core Batch Migrator: its sysfs-like control surface and version switch.

The attributes of ``/sys/kernel/dcbm/*`` (v1, v3) and ``/sys/module/dcbm/parameters/*``
(latest) as a Python API: ``Dcbm.store(attr, text)`` returns what the kernel's store
function returns (the byte count, or a negative errno; v1's ``offloading`` store returns
``sizeof(int)`` as posted) and ``Dcbm.show(attr)`` the text a read gives. Attributes:
``offloading`` (0/1), ``nr_dma_chan`` (1..16), counters ``folios_migrated``,
``folios_failures``, ``batches_refused`` (any write resets), ``reason_mask``, ``cache_ctrl``,
``sg_elems``, and the port's ``version`` switch ("v1" | "v3" | "latest", settable only while
offloading is off) and ``v1_double_copy`` (the v1 quirks switch, default on).

The three code paths live in ``dcbm_v1.py``, ``dcbm_v3.py`` and ``dcbm_latest.py``; the
counters are kept by every version (the latest dcbm has them; for v1 and v3 they are port
observability only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from drivers.mm.errno import EBUSY, EINVAL, ENOENT
from drivers.mm.migrate_copy_offload import (
    MIGRATE_OFFLOAD_REASONS_ALLOWED,
    format_reason_mask,
    parse_reason_mask,
)
from drivers.mm.module import Module
from emulator.sync import Mutex

if TYPE_CHECKING:
    from drivers.kernel import Kernel
    from drivers.mm.folio import Folio

MAX_DMA_CHANNELS = 16
DCBM_VERSIONS = ("v1", "v3", "latest")
DEFAULT_SG_ELEMS = 32


class DcbmImpl(Protocol):
    """One DCBM version: enabling/disabling offloading and its batch copy routine."""

    def enable(self) -> int:
        """Switch offloading on: 0 or a negative errno."""
        ...

    def disable(self) -> int:
        """Switch offloading off: 0 or a negative errno."""
        ...

    def folios_copy_dma(self, dst_list: list[Folio], src_list: list[Folio], nr: int) -> int:
        """Copy a batch of ``nr`` folio pairs."""
        ...


def kstrtoint(text: str | int) -> int | None:
    """``kstrtoint(buf, 0, &v)``: decimal, 0x hex or 0 octal; None on a parse error."""
    if isinstance(text, int):
        return text
    s = text.strip()
    try:
        return int(s, 0)
    except ValueError:
        return None


def kstrtobool(text: str | int | bool) -> bool | None:
    """``kstrtobool``: 1/y/Y/on and 0/n/N/off; None on a parse error."""
    if isinstance(text, bool | int):
        return bool(text)
    s = text.strip().lower()
    if s in ("1", "y", "yes", "on"):
        return True
    if s in ("0", "n", "no", "off"):
        return False
    return None


class Dcbm:
    """The DCBM module of one kernel: attributes, counters and the active version."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.module = Module("dcbm")
        self.mutex = Mutex(kernel.sim, "dcbm_mutex")  # dcbm_mutex / migratecfg_mutex
        self.version = "latest"
        self.v1_double_copy = True
        self.offloading_enabled = False
        self.nr_dma_channels = 1
        self.reason_mask = MIGRATE_OFFLOAD_REASONS_ALLOWED
        self.cache_ctrl = True
        self.sg_elems = DEFAULT_SG_ELEMS
        self.folios_migrated = 0
        self.folios_failures = 0
        self.batches_refused = 0
        self.batches = 0
        self._impls: dict[str, DcbmImpl] = {}

    # ------------------------------------------------------------------ versions
    def impl(self, version: str | None = None) -> DcbmImpl:
        """The implementation object of ``version`` (default: the selected one)."""
        v = version or self.version
        impl = self._impls.get(v)
        if impl is None:
            if v == "v1":
                from drivers.dcbm.dcbm_v1 import DcbmV1

                impl = DcbmV1(self)
            elif v == "v3":
                from drivers.dcbm.dcbm_v3 import DcbmV3

                impl = DcbmV3(self)
            elif v == "latest":
                from drivers.dcbm.dcbm_latest import DcbmLatest

                impl = DcbmLatest(self)
            else:
                raise ValueError(f"dcbm version {v!r} not in {DCBM_VERSIONS}")
            self._impls[v] = impl
        return impl

    def set_version(self, version: str) -> int:
        """Select the code path; -EBUSY while offloading is on, -EINVAL if unknown."""
        if version not in DCBM_VERSIONS:
            return -EINVAL
        if self.offloading_enabled:
            return -EBUSY
        self.version = version
        return 0

    def folios_copy_dma(self, dst_list: list[Folio], src_list: list[Folio], nr: int) -> int:
        """The active version's batch copy (what its migrator registers), for direct calls."""
        return self.impl().folios_copy_dma(dst_list, src_list, nr)

    # ------------------------------------------------------------------ sysfs-like API
    def store(self, attr: str, value: str | int) -> int:
        """Write ``value`` to attribute ``attr``: bytes consumed, or a negative errno."""
        text = value if isinstance(value, str) else str(value)
        count = len(text)
        if attr == "offloading":
            return self._store_offloading(value, count)
        if attr == "nr_dma_chan":
            v = kstrtoint(value)
            if v is None or v < 0:
                return -EINVAL
            if v < 1 or v > MAX_DMA_CHANNELS:
                return -EINVAL
            if self.version == "latest" and self.offloading_enabled:
                return -EBUSY  # "DMA channels to acquire when enabling"
            self.mutex.lock()
            self.nr_dma_channels = v
            self.mutex.unlock()
            return count
        if attr in ("folios_migrated", "folios_failures", "batches_refused"):
            setattr(self, attr, 0)  # any write resets
            return count
        if attr == "reason_mask":
            mask = parse_reason_mask(text)
            if mask < 0:
                return mask
            self.reason_mask = mask
            if self.version == "latest" and self.offloading_enabled:
                from drivers.dcbm.dcbm_latest import DcbmLatest

                impl = self.impl()
                assert isinstance(impl, DcbmLatest)
                ret = impl.set_reason_mask(mask)
                if ret:
                    return ret
            return count
        if attr == "cache_ctrl":
            b = kstrtobool(value)
            if b is None:
                return -EINVAL
            self.cache_ctrl = b
            return count
        if attr == "sg_elems":
            v = kstrtoint(value)
            if v is None or v < 1:
                return -EINVAL
            self.sg_elems = v
            return count
        if attr == "version":
            ret = self.set_version(text.strip())
            return ret if ret else count
        if attr == "v1_double_copy":
            b = kstrtobool(value)
            if b is None:
                return -EINVAL
            if self.offloading_enabled:
                return -EBUSY
            self.v1_double_copy = b
            return count
        return -ENOENT

    def show(self, attr: str) -> str:
        """Read attribute ``attr`` (the text ``cat`` would print, without the newline)."""
        if attr == "offloading":
            return str(int(self.offloading_enabled))
        if attr == "nr_dma_chan":
            return str(self.nr_dma_channels)
        if attr in ("folios_migrated", "folios_failures", "batches_refused", "sg_elems"):
            return str(getattr(self, attr))
        if attr == "reason_mask":
            return format_reason_mask(self.reason_mask)
        if attr == "cache_ctrl":
            return "Y" if self.cache_ctrl else "N"
        if attr == "version":
            return self.version
        if attr == "v1_double_copy":
            return "Y" if self.v1_double_copy else "N"
        raise KeyError(attr)

    def _store_offloading(self, value: str | int, count: int) -> int:
        if self.version == "v1":
            action = kstrtoint(value)
            if action is None:
                return -EINVAL
            from drivers.dcbm.dcbm_v1 import DcbmV1

            impl = self.impl()
            assert isinstance(impl, DcbmV1)
            return impl.offloading_set(action, count)
        enable = kstrtobool(value)
        if enable is None:
            return -EINVAL
        self.mutex.lock()
        try:
            if enable == self.offloading_enabled:
                self.kernel.printk(
                    f"dcbm: migration offloading is already {'ON' if enable else 'OFF'}")
                return count
            impl = self.impl()
            ret = impl.enable() if enable else impl.disable()
            if ret:
                return ret
            self.offloading_enabled = enable
        finally:
            self.mutex.unlock()
        return count

    # ------------------------------------------------------------------ conveniences
    def enable(self, version: str | None = None, nr_dma_chan: int | None = None) -> int:
        """Select ``version``, set ``nr_dma_chan`` and switch offloading on; 0 or -errno."""
        if version is not None:
            ret = self.set_version(version)
            if ret:
                return ret
        if nr_dma_chan is not None:
            ret = self.store("nr_dma_chan", nr_dma_chan)
            if ret < 0:
                return ret
        ret = self.store("offloading", 1)
        return ret if ret < 0 else 0

    def disable(self) -> int:
        """Switch offloading off; 0 or -errno."""
        ret = self.store("offloading", 0)
        return ret if ret < 0 else 0
