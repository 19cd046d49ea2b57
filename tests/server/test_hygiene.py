"""Resource hygiene: start/stop cycles and many sessions leak no threads, fds or memory.

The default suite runs a few hundred cycles; set ZKFAST_HYGIENE_CYCLES=10000 and
ZKFAST_HYGIENE_SESSIONS=1000 for the full run documented in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import tracemalloc

import zkfast
from zkfast import AsyncClient, Client
from zkfast.testing import ZooKeeperServer

from helpers import wait_until

CYCLES = int(os.environ.get("ZKFAST_HYGIENE_CYCLES", "300"))
SESSIONS = int(os.environ.get("ZKFAST_HYGIENE_SESSIONS", "200"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _zk_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("zkfast-"))


def test_start_stop_cycles_leak_nothing(zk_server: ZooKeeperServer) -> None:
    def cycle() -> None:
        c = Client(zk_server.hosts, session_timeout=4)
        c.start()
        c.exists("/")
        c.close()

    for _ in range(20):  # warm up caches, the codec, the logging module...
        cycle()
    gc.collect()
    wait_until(lambda: _zk_threads() == 0)
    fds0 = _fds()
    tracemalloc.start()
    try:
        half = CYCLES // 2
        for _ in range(half):
            cycle()
        gc.collect()
        mid, _ = tracemalloc.get_traced_memory()
        for _ in range(CYCLES - half):
            cycle()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wait_until(lambda: _zk_threads() == 0)
    assert _fds() <= fds0, "file descriptors leaked"
    per_cycle = (end - mid) / max(1, CYCLES - half)
    # A leak of one socket, thread or engine per cycle is kilobytes; allow allocator noise.
    assert per_cycle < 256, f"memory grows {per_cycle:.0f} bytes per start/stop cycle"


def test_many_sessions_open_at_once_then_closed(zk_server: ZooKeeperServer) -> None:
    fds0 = _fds()
    batch = 50
    made = 0
    while made < SESSIONS:
        clients = [Client(zk_server.hosts, session_timeout=4) for _ in range(min(batch, SESSIONS - made))]
        for c in clients:
            c.start()
        sids = {c.session_id for c in clients}
        assert len(sids) == len(clients)  # each its own session
        for c in clients:
            c.close()
        made += len(clients)
    wait_until(lambda: _zk_threads() == 0)
    assert _fds() <= fds0


def test_async_start_stop_cycles_leak_nothing(zk_server: ZooKeeperServer) -> None:
    async def main() -> None:
        for _ in range(CYCLES // 3):
            async with AsyncClient(zk_server.hosts, session_timeout=4) as zk:
                await zk.exists("/")
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert tasks == []

    fds0 = _fds()
    asyncio.run(main())
    assert _fds() <= fds0


def test_unreachable_server_cycles_leak_nothing() -> None:
    fds0 = _fds()
    for _ in range(20):
        c = Client("127.0.0.1:1", connection_timeout=0.05)
        try:
            c.start(timeout=0.1)
        except zkfast.WaitTimeoutError:
            pass
    wait_until(lambda: _zk_threads() == 0)
    assert _fds() <= fds0
