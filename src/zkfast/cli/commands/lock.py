"""``lock``: hold a :class:`zkfast.recipe.Lock` while a command runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from typing import Any

from ...errors import ZooKeeperError
from ...events import State
from ...paths import validate_path
from ..context import Context
from ..exitcodes import EXIT_COMMAND_NOT_FOUND, EXIT_CONNECTION, EXIT_USAGE, CLIError


def cmd_lock(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if not a.command_argv:
        raise CLIError("lock needs a command: zkfast lock PATH -- COMMAND [ARGS...]", EXIT_USAGE)
    validate_path(a.path)
    zk = ctx.zk
    from ...recipe import Lock  # only this command needs the recipes

    identifier = a.identifier or f"{socket.gethostname()}:{os.getpid()}"
    lock = Lock(zk, a.path, identifier)
    if not lock.acquire(timeout=a.lock_timeout):
        raise CLIError(f"could not acquire the lock {a.path} within {a.lock_timeout:g}s",
                       EXIT_CONNECTION)
    lost = threading.Event()
    proc: subprocess.Popen[bytes] | None = None

    def on_state(state: State) -> None:
        if state == State.SUSPENDED:
            out.warn("connection lost; the lock is held until the session expires")
        elif state in (State.EXPIRED, State.CLOSED) and not done.is_set():
            lost.set()
            out.warn("session expired: the lock is lost; stopping the command")
            if proc is not None and proc.poll() is None:
                proc.terminate()

    done = threading.Event()
    zk.add_listener(on_state)
    out.info(f"holding lock {a.path}")
    env = dict(os.environ, ZKFAST_LOCK_PATH=a.path)
    old_term = None
    try:
        try:
            proc = subprocess.Popen(a.command_argv, env=env)
        except OSError as e:
            raise CLIError(f"cannot run {a.command_argv[0]!r}: {e.strerror or e}",
                           EXIT_COMMAND_NOT_FOUND) from None
        if threading.current_thread() is threading.main_thread():
            def forward(signum: int, _frame: Any) -> None:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signum)
            old_term = signal.signal(signal.SIGTERM, forward)
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:
                continue  # the child got the same Ctrl-C; wait for it to finish
    finally:
        done.set()
        zk.remove_listener(on_state)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if not lost.is_set():
            try:
                lock.release()
            except ZooKeeperError as e:
                out.warn(f"releasing the lock failed: {e}")
    if lost.is_set():
        raise CLIError(f"lost the lock {a.path} while the command ran", EXIT_CONNECTION)
    return rc if rc >= 0 else 128 - rc
