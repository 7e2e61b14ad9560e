import numpy as np

from emulator.platform import Platform


def test_cpu_copy_moves_bytes_and_takes_time(platform: Platform) -> None:
    src = platform.alloc_pages(1, 0)
    dst = platform.alloc_pages(0, 0)
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)
    platform.mem.write(src, data)

    def job() -> int:
        t0 = platform.sim.now
        platform.cpu.copy(dst, src, 4096)
        return platform.sim.now - t0

    elapsed = platform.call(job)
    assert elapsed > 0
    assert np.array_equal(platform.mem.read(dst, 4096), data)


def test_named_operations_charge_their_preset_cost(platform: Platform) -> None:
    def job() -> int:
        t0 = platform.sim.now
        platform.cpu.op("tlb_flush_batch")
        platform.cpu.op("lru_add", 10)
        return platform.sim.now - t0

    ps = platform.call(job)
    cost = platform.preset.cpu_op_cycles
    expected = cost["tlb_flush_batch"] + 10 * cost["lru_add"]
    assert ps == platform.cpu_clock.cycles_to_ps(expected)
    assert platform.cpu.op_counts["lru_add"] == 10
    import pytest

    with pytest.raises(KeyError):
        platform.call(lambda: platform.cpu.op("no_such_op"))


def test_cores_on_one_ccd_share_its_port() -> None:
    def run(cores: tuple[int, int]) -> int:
        plat = Platform("zen3-epyc-2s", seed=0)
        size = 2 << 20
        srcs = [plat.alloc_pages(1, 9) for _ in cores]
        dsts = [plat.alloc_pages(0, 9) for _ in cores]
        for core, s, d in zip(cores, srcs, dsts, strict=True):
            plat.spawn(plat.cpu.copy, d, s, size, core=core)
        plat.run()
        return plat.sim.now

    same_ccd = run((0, 1))
    other_ccd = run((0, 4))
    assert same_ccd > 1.5 * other_ccd


def test_copy_many_moves_every_page(platform: Platform) -> None:
    n = 64
    srcs = platform.frames[1].alloc_pages_bulk(0, n)
    dsts = platform.frames[0].alloc_pages_bulk(0, n)
    rng = np.random.default_rng(3)
    blobs = [rng.integers(0, 256, 4096, dtype=np.uint8) for _ in range(n)]
    for s, b in zip(srcs.tolist(), blobs, strict=True):
        platform.mem.write(s, b)
    platform.call(platform.cpu.copy_many, dsts, srcs, 4096)
    for d, b in zip(dsts.tolist(), blobs, strict=True):
        assert np.array_equal(platform.mem.read(d, 4096), b)
    per_page_ns = platform.sim.now / n / 1000
    assert 100 < per_page_ns < 2000
