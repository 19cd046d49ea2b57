"""``lock``: hold a :class:`zkfast.recipe.Lock` while a command runs, and stop the
command before anyone else can take the lock.

Why a lease and not only the lock's loss signal: the server expires a session one
session timeout ``t`` after the last request it received from it, and only then can
another client take the lock. The client notices a silent connection only after
``2t/3`` without a reply, and the lock's own loss signal (``Lock.lost``/``on_lost``)
fires a whole ``t`` after that, so a command stopped on ``on_lost`` alone would still
run ``2t/3`` after the second holder started. Instead zkfast keeps a lease:

* every ``min(1 s, t/10)`` it reads the lock node (``exists``). A reply showing the
  node owned by our session proves the server heard from the session at or after the
  moment the read was *sent*; call the latest such moment ``C``. The server cannot
  expire the session, so nobody else can hold the lock, before ``C + t``;
* at ``C + t/2`` (no confirmation for half a session timeout) every process of the
  command gets SIGTERM;
* at ``C + 3t/4`` (the grace period is ``t/4``) whatever is left gets SIGKILL, a
  quarter of a session timeout before the earliest moment another client could hold
  the lock;
* when the lock is known lost (``Lock.lost``: the session expired or the client
  closed; or the node is gone or belongs to another session) the command gets SIGTERM
  at once and SIGKILL ``t/4`` later (sooner if the lease says so).

A disconnection shorter than about ``t/2`` (a server restart, a reset connection
followed by a reconnect within the same session) stops nothing. The command runs in a
process group of its own, so the signals reach every process it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from typing import IO, Any, Callable, Optional

from ...client import Client, Future
from ...errors import SessionExpiredError, ZooKeeperError
from ...events import State
from ...paths import validate_path
from ..context import Context
from ..exitcodes import EXIT_COMMAND_NOT_FOUND, EXIT_CONNECTION, EXIT_USAGE, CLIError
from ..output import Output

TERM_AFTER = 0.5
"""SIGTERM when no probe confirmed the lock for this fraction of the session timeout."""
KILL_AFTER = 0.75
"""SIGKILL at this fraction: the grace period is ``KILL_AFTER - TERM_AFTER`` (t/4)."""
PROBE_EVERY = 0.1
"""Read the lock node every this fraction of the session timeout ..."""
MAX_PROBE_INTERVAL = 1.0
"""... but at least once a second."""
POLL_INTERVAL = 0.05
"""How often the waiting loop looks at the command, the probes and the clock."""

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if os.name == "posix" else (
    signal.SIGTERM, signal.SIGINT)


class Lease:
    """When the command under a lock must be stopped (all times ``time.monotonic()``).

    ``confirmed`` is when the last good probe was sent: the server cannot expire the
    session before ``confirmed + session_timeout``.

    >>> lease = Lease(4.0, confirmed=100.0)
    >>> lease.term_at(), lease.kill_at()
    (102.0, 103.0)
    >>> lease.lose(100.5)
    >>> lease.term_at(), lease.kill_at()
    (100.5, 101.5)
    """

    def __init__(self, session_timeout: float, confirmed: float) -> None:
        self.session_timeout = session_timeout
        self.confirmed = confirmed
        self.lost_at: Optional[float] = None

    @property
    def grace(self) -> float:
        """Between SIGTERM and SIGKILL."""
        return (KILL_AFTER - TERM_AFTER) * self.session_timeout

    def confirm(self, sent_at: float) -> None:
        self.confirmed = max(self.confirmed, sent_at)

    def lose(self, now: float) -> None:
        """The lock is known to be gone."""
        if self.lost_at is None:
            self.lost_at = now

    def expires_at(self) -> float:
        """The earliest moment the server may expire the session."""
        return self.confirmed + self.session_timeout

    def term_at(self) -> float:
        at = self.confirmed + TERM_AFTER * self.session_timeout
        return at if self.lost_at is None else min(at, self.lost_at)

    def kill_at(self) -> float:
        at = self.confirmed + KILL_AFTER * self.session_timeout
        return at if self.lost_at is None else min(at, self.lost_at + self.grace)


class LockWatch:
    """Keeps a held lock's :class:`Lease` up to date: one ``exists`` probe of the lock
    node in flight at a time, plus the lock's own loss signal."""

    def __init__(self, zk: Client, lock: Any, now: float) -> None:
        self.zk = zk
        self.lock = lock
        self.node: str = lock.node
        self.session_id = zk.session_id
        timeout = zk.negotiated_session_timeout
        self.interval = min(MAX_PROBE_INTERVAL, PROBE_EVERY * timeout)
        self.lease = Lease(timeout, confirmed=now - timeout)  # nothing confirmed yet
        self.reason = ""
        #: set once the command is being stopped
        self.stopping = False
        self._probe: Optional[Future] = None
        self._sent = 0.0

    def _lose(self, now: float, reason: str) -> None:
        if self.lease.lost_at is None:
            self.reason = reason
        self.lease.lose(now)

    def confirm_now(self, timeout: float) -> bool:
        """One blocking probe (before the command starts)."""
        now = time.monotonic()
        self._send(now)
        probe = self._probe
        if probe is not None:
            try:
                probe.result(timeout)
            except ZooKeeperError:
                pass  # judged below
            self.poll(time.monotonic())
        return self.lease.lost_at is None and self.lease.confirmed >= now

    def _send(self, now: float) -> None:
        self._sent = now
        try:
            self._probe = self.zk.exists_async(self.node)
        except ZooKeeperError:
            self._probe = None  # closed: the loss signal says so

    def poll(self, now: float) -> None:
        """Settle a finished probe, start the next, and look at the lock's loss signal."""
        if self.lock.lost.is_set():
            self._lose(now, "the session expired")
        probe = self._probe
        if probe is not None and probe.done():
            self._probe = None
            try:
                stat = probe.result(0)
            except SessionExpiredError:
                self._lose(now, "the session expired")
            except ZooKeeperError:
                pass  # connection loss and the like: no confirmation this time
            else:
                if stat is None:
                    self._lose(now, f"the lock node {self.node} was deleted")
                elif stat.ephemeral_owner != self.session_id:
                    self._lose(now, f"the lock node {self.node} belongs to another session")
                else:
                    self.lease.confirm(self._sent)
        if self._probe is None and now >= self._sent + self.interval:
            self._send(now)


class CommandGroup:
    """The command, started in a process group of its own so that a signal reaches
    every process it started (a shell script's children too)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {}
        self.posix = os.name == "posix"
        if self.posix:
            kwargs["process_group"] = 0
        self.proc = subprocess.Popen(argv, env=env, **kwargs)
        self.pgid = self.proc.pid
        #: the signal that stopped the command (Ctrl-Z: SIGTSTP), until it is handled
        self.stopped_by = 0

    def poll(self) -> Optional[int]:
        """The command's exit status, or None while it runs; notes when it stops."""
        proc = self.proc
        if proc.returncode is not None or not self.posix:
            return proc.poll()
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return proc.poll()
        if pid == 0:
            return None
        if os.WIFSTOPPED(status):
            self.stopped_by = os.WSTOPSIG(status)
            return None
        proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode

    def signal(self, signum: int) -> None:
        if self.posix:
            try:
                os.killpg(self.pgid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        elif self.proc.poll() is None:  # pragma: no cover - not POSIX
            self.proc.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL if self.posix else signal.SIGTERM)

    def alive(self) -> bool:
        """True while the command or any process left in its group runs."""
        if self.poll() is None:
            return True
        if not self.posix:  # pragma: no cover
            return False
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


class Foreground:
    """On an interactive terminal, hand the terminal to the command's process group
    (as a shell does for a job) so it can read it and gets Ctrl-C; take it back after."""

    def __init__(self, stdin: IO[str]) -> None:
        self.fd = -1
        if os.name != "posix" or threading.current_thread() is not threading.main_thread():
            return
        try:
            fd = stdin.fileno()
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                self.fd = fd
        except (AttributeError, OSError, ValueError):
            pass

    def give(self, pgid: int) -> None:
        if self.fd >= 0:
            self._set(pgid)
            try:
                os.killpg(pgid, signal.SIGCONT)  # in case it read the terminal before it had it
            except ProcessLookupError:
                pass  # already gone

    def take_back(self) -> None:
        if self.fd >= 0:
            self._set(os.getpgrp())

    def suspend(self) -> None:
        """The command was stopped (Ctrl-Z): take the terminal back and stop zkfast
        too, so the shell sees its job stopped; returns when the shell continues it."""
        if self.fd >= 0:
            self.take_back()
            os.kill(os.getpid(), signal.SIGSTOP)

    def _set(self, pgid: int) -> None:
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # we may be in the background now
        try:
            os.tcsetpgrp(self.fd, pgid)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, old)


def _forward_signals(group: CommandGroup) -> Callable[[], None]:
    """Pass SIGTERM/SIGINT/SIGHUP sent to zkfast on to the command; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def forward(signum: int, _frame: Any) -> None:
        group.signal(signum)

    old = {s: signal.signal(s, forward) for s in _FORWARDED}

    def restore() -> None:
        for s, handler in old.items():
            signal.signal(s, handler)
    return restore


def _on_lock_state(out: Output, path: str, watch: list[LockWatch]) -> Callable[[State], None]:
    def on_state(state: State) -> None:
        if not watch:
            return
        guard = watch[0]
        if state == State.SUSPENDED:
            left = guard.lease.term_at() - time.monotonic()
            out.warn("connection lost" + ("" if guard.stopping else
                     f"; the command is stopped in {max(0.0, left):.1f}s unless it comes back"))
        elif state == State.CONNECTED:
            out.info(f"the connection is back; the lock is still held: {path}")
    return on_state


def cmd_lock(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if not a.command_argv:
        raise CLIError("lock needs a command: zkfast lock PATH -- COMMAND [ARGS...]", EXIT_USAGE)
    validate_path(a.path)
    zk = ctx.zk
    from ...recipe import Lock  # only this command needs the recipes

    identifier = a.identifier or f"{socket.gethostname()}:{os.getpid()}"
    watch: list[LockWatch] = []
    lock = Lock(zk, a.path, identifier, listener=_on_lock_state(out, a.path, watch))
    if not lock.acquire(timeout=a.lock_timeout):
        raise CLIError(f"could not acquire the lock {a.path} within {a.lock_timeout:g}s",
                       EXIT_CONNECTION)
    try:
        guard = LockWatch(zk, lock, time.monotonic())
        watch.append(guard)
        if not guard.confirm_now(ctx.timeout):
            raise CLIError(f"the lock {a.path} could not be confirmed after acquiring it"
                           f"{': ' + guard.reason if guard.reason else ''}", EXIT_CONNECTION)
        out.info(f"holding lock {a.path}")
        rc, stopped = _run_under(ctx, guard, a.path)
    finally:
        try:
            lock.release()  # False if it was lost; a node of a live session goes now
        except ZooKeeperError as e:
            out.warn(f"releasing the lock failed: {e}")
    if stopped is not None:
        raise CLIError(f"lost the lock {a.path} while the command ran; the command was stopped",
                       EXIT_CONNECTION)
    return rc if rc >= 0 else 128 - rc


def _run_under(ctx: Context, guard: LockWatch, path: str) -> tuple[int, Optional[str]]:
    """Run the command while the lease holds: ``(its exit status, None)`` if it ended by
    itself, ``(status, why)`` if it was stopped because the lock was in doubt."""
    a = ctx.args
    out = ctx.output
    env = dict(os.environ, ZKFAST_LOCK_PATH=path)
    try:
        group = CommandGroup(a.command_argv, env)
    except OSError as e:
        raise CLIError(f"cannot run {a.command_argv[0]!r}: {e.strerror or e}",
                       EXIT_COMMAND_NOT_FOUND) from None
    foreground = Foreground(ctx.stdin)
    foreground.give(group.pgid)
    restore_signals = _forward_signals(group)
    lease = guard.lease
    stopping: Optional[str] = None
    killed = False
    paused = False  # the command is stopped (job control) and waits for us to continue it
    try:
        while True:
            rc = group.poll()
            if group.stopped_by and foreground.fd >= 0:
                if group.stopped_by == signal.SIGTSTP:
                    foreground.suspend()  # until `fg`; the lease may have run out meanwhile
                # else it read the terminal before it had it (SIGTTIN/SIGTTOU), or SIGSTOP
                paused = group.stopped_by != signal.SIGSTOP
            group.stopped_by = 0
            now = time.monotonic()
            # Once stopping, wait for the rest of its group too, up to the SIGKILL (a
            # killed process may linger as a zombie of whoever adopted it).
            if rc is not None and (stopping is None or killed or not group.alive()):
                return rc, stopping
            guard.poll(now)
            if stopping is None and now >= lease.term_at():
                stopping = guard.reason or (
                    f"no reply from ZooKeeper for {now - lease.confirmed:.1f}s; the session "
                    f"may expire at the server in {max(0.0, lease.expires_at() - now):.1f}s")
                out.warn(f"the lock {path} can no longer be assumed held: {stopping}; "
                         f"stopping the command (SIGTERM, SIGKILL in "
                         f"{max(0.0, lease.kill_at() - now):.1f}s)")
                guard.stopping = True
                group.signal(signal.SIGTERM)
                if now < lease.kill_at():
                    group.signal(signal.SIGCONT)  # a stopped process handles SIGTERM only then
                paused = False
            if paused and stopping is None:
                paused = False
                foreground.give(group.pgid)  # and SIGCONT
            if stopping is not None and not killed and now >= lease.kill_at():
                killed = True
                if group.alive():
                    out.warn("the command did not stop in time: SIGKILL")
                group.kill()
            time.sleep(POLL_INTERVAL)
    finally:
        restore_signals()
        foreground.take_back()
        if group.poll() is None:  # an error in the loop: don't leave it running
            group.kill()
            group.proc.wait()
