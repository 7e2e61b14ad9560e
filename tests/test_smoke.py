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
