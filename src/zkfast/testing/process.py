"""The plumbing of one server JVM: its work directory, log, and never leaving it running.

A server's temporary directory records the pid of the process that owns it; a later test
process removes directories whose owner is gone. Set ``ZKFAST_KEEP_ZK_DIRS=1`` to keep
them for post-mortems.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["OWNER_FILE", "ProcState", "death_signal_preexec", "finalize", "keep_dirs", "file_tail",
           "sweep_stale_dirs"]

OWNER_FILE = "zkfast-owner.pid"
_swept = False


def sweep_stale_dirs() -> None:
    """Remove server dirs left by test processes that died without cleaning up (once per
    process). A dir is stale when the pid recorded in it no longer exists."""
    global _swept
    if _swept or keep_dirs():
        return
    _swept = True
    for d in Path(tempfile.gettempdir()).glob("zkfast-zk-*"):
        try:
            pid = int((d / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass  # alive (or not ours to signal): leave it


def keep_dirs() -> bool:
    return os.environ.get("ZKFAST_KEEP_ZK_DIRS", "") not in ("", "0", "false", "no")


@dataclass
class ProcState:
    """What the finalizer needs: no reference back to the server object."""

    workdir: str
    proc: subprocess.Popen[bytes] | None = None
    closed: bool = False


def finalize(state: ProcState) -> None:
    """Last-resort cleanup at GC or interpreter exit: never leave a JVM running."""
    if state.proc is not None and state.proc.poll() is None:
        state.proc.kill()
        try:
            state.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
    state.proc = None
    if not state.closed:
        state.closed = True
        if not keep_dirs():
            shutil.rmtree(state.workdir, ignore_errors=True)


def death_signal_preexec() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the JVM if this process dies (even by SIGKILL).

    Only used when spawning from the main thread: the signal fires when the *spawning
    thread* exits, which for a worker thread would kill a server that is still wanted.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not import
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)

    return preexec


def file_tail(path: str, lines: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<no log: {e}>"
    return "\n".join(data.splitlines()[-lines:])

