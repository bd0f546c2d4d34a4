"""Forked workers (Gymnasium's ``AsyncVectorEnv`` with the default ``fork`` context) must not hang on torch.

A parent that has run a parallel torch op owns an OpenMP thread pool; a forked child inherits the pool's state
but not its threads, so the child's first parallel op waits forever. :func:`install` registers a fork hook that
sets the child's torch to one thread (when torch is loaded), so its ops run inline. Installed on import of
:mod:`tasm_env.envs` (so by ``import tasm_env``); torch is never imported here.
"""

from __future__ import annotations

import os
import sys

_installed = False


def _one_torch_thread_in_child() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(1)


def install() -> None:
    """Register the fork hook once per process (a no-op where ``os.register_at_fork`` does not exist)."""
    global _installed
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_one_torch_thread_in_child)
        _installed = True


__all__ = ["install"]
