"""Page-migration core of dcbm-emu: folios, page tables, migrate_pages(), move_pages().

Modules (kernel file each mirrors):

- ``folio``: ``Folio`` and the kernel helpers (include/linux/mm_types.h, page-flags.h).
- ``mm``: ``Mm`` subsystem: tasks, ``MmStruct`` (VMAs, page tables), page cache,
  folio allocation/locks/LRU, ``populate``, checksums.
- ``rmap``: try_to_migrate, remove_migration_ptes, try_to_unmap_flush, THP split.
- ``migrate``: ``MigrateCore`` (mm/migrate.c) in flavours generic / seed / v3 / latest,
  ``MigrationConfig``, t1..t4 ``MigrateRecord``s.
- ``folio_copy``: folio_copy, folio_mc_copy, folios_copy, folios_mc_copy,
  migrate_folios_mc_copy (CPU copies timed by the NUMA model).
- ``migrate_dma``: the seed (v1) / offc (v2, v3) migrator registry.
- ``migrate_copy_offload``: the latest offload registry (reason mask, SRCU).
- ``mtcopy``: the multi-threaded CPU copier "CPU_MT_COPY".
- ``syscalls``: move_pages(2), migrate_pages(2).
- ``tasks``: user tasks' timed accesses that wait on migration entries.
- ``cost``: named CPU costs (preset ``cpu_op_cycles``) with per-phase accumulation.
- ``srcu``, ``module``, ``errno``, ``migrate_mode``: support.

Quick start::

    from emulator.platform import Platform
    from drivers.kernel import Kernel
    from drivers.mm.mm import Mm
    from drivers.mm.migrate import MigrateCore
    from drivers.mm.syscalls import MmSyscalls, MPOL_MF_MOVE

    p = Platform(seed=1); k = Kernel(p)
    k.subsystem(MigrateCore).configure(flavour="latest", nr_max_batched_migration=512)
    mm = k.subsystem(Mm)
    task = mm.create_process("app")
    addr = task.mm.mmap(2 << 20)
    mm.populate(task, addr, 2 << 20, node=1, order=0)
    pages = [addr + i * 4096 for i in range(512)]
    status = [0] * 512
    rc = p.call(k.subsystem(MmSyscalls).move_pages, task.pid, pages, [0] * 512, status,
                MPOL_MF_MOVE)
    rec = k.subsystem(MigrateCore).records[-1]   # t1, t2, t3, t4, copy_ps, F
"""
