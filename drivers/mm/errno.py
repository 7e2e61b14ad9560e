"""Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) used by the mm ports.

Kernel functions return ``-E...`` as in C; syscalls report per-page status the same way.
"""

from __future__ import annotations

EPERM = 1
ENOENT = 2
ESRCH = 3
EIO = 5
E2BIG = 7
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
ENODEV = 19
EINVAL = 22
ENOSPC = 28
ENOSYS = 38
EOPNOTSUPP = 95
ETIMEDOUT = 110
EHWPOISON = 133
ENOTSUPP = 524  # kernel-internal (include/linux/errno.h), returned by v2 mtcopy on HIGHMEM

_NAMES = {
    v: k
    for k, v in dict(globals()).items()
    if k.startswith("E") and isinstance(v, int) and not k.startswith("_")
}


def errname(err: int) -> str:
    """Symbolic name of ``err`` or ``-err`` (``-EAGAIN`` for -11), for logs and reports."""
    name = _NAMES.get(abs(err))
    if name is None:
        return str(err)
    return f"-{name}" if err < 0 else name
