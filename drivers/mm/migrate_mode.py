"""enum migrate_mode and enum migrate_reason (include/linux/migrate_mode.h), with the
``migrate_reason_names`` table (mm/debug.c) used by the offload reason mask."""

from __future__ import annotations

from enum import IntEnum


class MigrateMode(IntEnum):
    """``enum migrate_mode``; SYNC_NO_COPY is the v6.8/seed metadata-only mode (v2: NO_COPY)."""

    MIGRATE_ASYNC = 0
    MIGRATE_SYNC_LIGHT = 1
    MIGRATE_SYNC = 2
    MIGRATE_SYNC_NO_COPY = 3


MIGRATE_ASYNC = MigrateMode.MIGRATE_ASYNC
MIGRATE_SYNC_LIGHT = MigrateMode.MIGRATE_SYNC_LIGHT
MIGRATE_SYNC = MigrateMode.MIGRATE_SYNC
MIGRATE_SYNC_NO_COPY = MigrateMode.MIGRATE_SYNC_NO_COPY
MIGRATE_NO_COPY = MigrateMode.MIGRATE_SYNC_NO_COPY  # v2 2/9 revived name


class MigrateReason(IntEnum):
    """``enum migrate_reason``."""

    MR_COMPACTION = 0
    MR_MEMORY_FAILURE = 1
    MR_MEMORY_HOTPLUG = 2
    MR_SYSCALL = 3  # also cpuset_migrate_mm
    MR_MEMPOLICY_MBIND = 4
    MR_NUMA_MISPLACED = 5
    MR_CONTIG_RANGE = 6
    MR_LONGTERM_PIN = 7
    MR_DEMOTION = 8
    MR_DAMON = 9


MR_COMPACTION = MigrateReason.MR_COMPACTION
MR_MEMORY_FAILURE = MigrateReason.MR_MEMORY_FAILURE
MR_MEMORY_HOTPLUG = MigrateReason.MR_MEMORY_HOTPLUG
MR_SYSCALL = MigrateReason.MR_SYSCALL
MR_MEMPOLICY_MBIND = MigrateReason.MR_MEMPOLICY_MBIND
MR_NUMA_MISPLACED = MigrateReason.MR_NUMA_MISPLACED
MR_CONTIG_RANGE = MigrateReason.MR_CONTIG_RANGE
MR_LONGTERM_PIN = MigrateReason.MR_LONGTERM_PIN
MR_DEMOTION = MigrateReason.MR_DEMOTION
MR_DAMON = MigrateReason.MR_DAMON
MR_TYPES = len(MigrateReason)

# mm/debug.c migrate_reason_names[MR_TYPES]
MIGRATE_REASON_NAMES: tuple[str, ...] = (
    "compaction",
    "memory_failure",
    "memory_hotplug",
    "syscall_or_cpuset",
    "mempolicy_mbind",
    "numa_misplaced",
    "contig_range",
    "longterm_pin",
    "demotion",
    "damon",
)
assert len(MIGRATE_REASON_NAMES) == MR_TYPES
