"""``zkfast lock`` must stop its command before anyone else can take the lock.

The holder runs ``python -m zkfast lock`` through a :class:`zkfast.testing.TcpProxy`;
the proxy is black-holed (a network partition: nothing passes, nothing is closed)
and a second client, connected straight to the server, waits for the lock. When the
second client gets it, the first command's processes must already be gone: no two
holders may ever run at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Callable

import pytest
from helpers import wait_until

import zkfast
from zkfast import Client
from zkfast.recipe import Lock
from zkfast.testing import TcpProxy, ZooKeeperServer

SRC = str(Path(zkfast.__file__).resolve().parent.parent)

# The command under the lock: a shell (the process zkfast starts) running a Python
# grandchild that ignores SIGTERM and appends a line to a log every 20 ms. Killing only
# the shell, or only sending SIGTERM, would leave the writer running.
WRITER = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "log = open(sys.argv[1], 'a')\n"
    "open(sys.argv[2], 'w').write(str(os.getpid()))\n"
    "while True:\n"
    "    log.write('%d\\n' % os.getpid()); log.flush(); time.sleep(0.02)\n"
)


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphaned grandchild is reaped
    by whichever process adopted it, maybe late: a zombie writes nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


class Lines:
    """Collects a pipe's lines in a thread, so a test can wait for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.text(), timeout=timeout)

    def close(self) -> None:
        """After the process ended: the reader sees EOF, then the pipe is closed. (A
        process left holding the pipe would block close(): then leave it open.)"""
        self._thread.join(5)
        if not self._thread.is_alive():
            self.stream.close()


def env_with_src(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


@pytest.mark.parametrize("blackhole", [True, False], ids=["partition", "reset"])
def test_lock_stops_the_command_before_another_client_can_take_the_lock(
        zk_server: ZooKeeperServer, zk_proxy: TcpProxy, zk_chroot: str,
        make_client: Callable[..., Client], tmp_path: Path, blackhole: bool) -> None:
    other = make_client()
    other.ensure_path("/locks")
    log, pidfile = tmp_path / "log", tmp_path / "pid"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    command = f"{sys.executable} {script} {log} {pidfile}; echo shell-went-on >> {log}"
    holder = subprocess.Popen(
        [sys.executable, "-m", "zkfast", "--hosts", zk_proxy.hosts + zk_chroot,
         "--session-timeout", "4", "lock", "/locks/job", "--", "sh", "-c", command],
        env=env_with_src(), stderr=subprocess.PIPE, text=True)
    assert holder.stderr is not None
    err = Lines(holder.stderr)
    writer = 0
    try:
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
        writer = int(pidfile.read_text())
        wait_until(lambda: log.exists() and log.stat().st_size > 0, timeout=10)
        assert running(writer) and holder.poll() is None

        if blackhole:
            zk_proxy.blackhole()  # a partition: the server expires the holder's session
        else:
            # connections reset and new ones refused: the holder knows at once, but
            # its session lives on at the server for a session timeout
            zk_proxy.refuse()
            zk_proxy.drop_all()

        second = Lock(other, "/locks/job", "second")
        assert second.acquire(timeout=60)
        # The moment the second client holds the lock, the first command is gone.
        alive = running(writer)
        size = log.stat().st_size
        try:
            assert not alive, "the first command still ran when the second client got the lock"
            lines = log.read_text().split()
            assert "shell-went-on" not in lines
        finally:
            second.release()
        assert log.stat().st_size == size

        zk_proxy.reset_faults()
        assert holder.wait(60) == 6, err.text()
        assert "stopping the command" in err.text(), err.text()
        assert "Traceback" not in err.text(), err.text()
    finally:
        zk_proxy.reset_faults()
        if writer and running(writer):
            os.kill(writer, signal.SIGKILL)
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        err.close()


def test_lock_survives_a_short_disconnection(zk_proxy: TcpProxy, zk_chroot: str,
                                             make_client: Callable[..., Client],
                                             tmp_path: Path) -> None:
    """A connection reset followed by a quick reconnect (same session) is not a loss:
    the command runs on, and ends on its own."""
    make_client().ensure_path("/locks")
    flag = tmp_path / "go"
    body = ("import os, sys, time\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n")
    script = tmp_path / "wait.py"
    script.write_text(body)
    holder = subprocess.Popen(
        [sys.executable, "-m", "zkfast", "--hosts", zk_proxy.hosts + zk_chroot,
         "--session-timeout", "10", "lock", "/locks/job", "--", sys.executable, str(script),
         str(flag)], env=env_with_src(), stderr=subprocess.PIPE, text=True)
    assert holder.stderr is not None
    err = Lines(holder.stderr)
    try:
        err.wait_for("holding lock /locks/job")
        zk_proxy.drop_all()
        err.wait_for("the lock is still held")
        flag.write_text("")
        assert holder.wait(60) == 0, err.text()
        assert "stopping" not in err.text()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        err.close()
