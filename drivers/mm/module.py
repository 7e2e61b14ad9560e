"""struct module reference counting for migrator owners (``try_module_get`` / ``module_put``).

A migrator's ``owner`` pins its module while it is the active migrator. Any object may be an
owner; a ``Module`` additionally counts references and can refuse new ones while it unloads.
"""

from __future__ import annotations


class Module:
    """A loadable module: ``refcnt`` references, ``live`` false while it is being removed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.refcnt = 0
        self.live = True

    def __repr__(self) -> str:
        return f"Module({self.name!r}, refcnt={self.refcnt}, live={self.live})"


def try_module_get(owner: object | None) -> bool:
    """Pin ``owner``; False when it is a Module that is going away (kernel/module/main.c)."""
    if owner is None:
        return True
    if isinstance(owner, Module):
        if not owner.live:
            return False
        owner.refcnt += 1
    return True


def module_put(owner: object | None) -> None:
    """Drop a pin taken by ``try_module_get``."""
    if isinstance(owner, Module):
        if owner.refcnt <= 0:
            raise RuntimeError(f"module_put underflow on {owner!r}")
        owner.refcnt -= 1
