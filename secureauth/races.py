"""Named points between a read and the write that depends on it, for tests.

A concurrency test installs a hook at a point (``hold``) to stop every thread
there, at a barrier, so the race it tests happens on every run instead of by
luck. In production no hook is installed and a checkpoint is a dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_hooks: dict[str, Callable[[], None]] = {}


def checkpoint(name: str) -> None:
    """Run the hook installed at ``name``, if any."""
    hook = _hooks.get(name)
    if hook is not None:
        hook()


@contextmanager
def hold(name: str, hook: Callable[[], None]) -> Iterator[None]:
    """Install ``hook`` at checkpoint ``name`` for the duration of the block."""
    _hooks[name] = hook
    try:
        yield
    finally:
        _hooks.pop(name, None)
