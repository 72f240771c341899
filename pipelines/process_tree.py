"""No process outlives a run: the processes a CLI forks die with it, even when it is killed with SIGKILL.

dlt's normalize step forks worker processes (multiprocessing's `fork`, from the main thread). A SIGKILLed
parent cannot stop them, and they wait forever on a queue whose other end they hold themselves. Linux
can signal a child when its parent dies (prctl PR_SET_PDEATHSIG), so every fork of this process asks for
that. The emulator of `--demo` is not forked but exec'd; it watches its parent itself.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_registered = False


def forked_children_die_with_this_process() -> None:
    """From now on, every process forked from this one is killed when this one dies (Linux only).

    The signal is tied to the thread that forks: call this in a CLI whose dlt runs on the main thread,
    which is also the only thread dlt forks from (elsewhere it spawns).
    """
    global _registered
    if _registered or not sys.platform.startswith("linux"):
        return
    parent = os.getpid()

    def in_child() -> None:
        die_with_parent()
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    os.register_at_fork(after_in_child=in_child)
    _registered = True


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `signum` to this process when its parent (thread) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
