"""zkfast demo: start a throwaway local ZooKeeper, then use both clients against it."""

from __future__ import annotations

import asyncio
import threading
import time

import zkfast
from zkfast import AsyncClient, Client
from zkfast.testing import ZooKeeperServer


def sync_demo(hosts: str) -> None:
    with Client(hosts) as zk:
        print(f"connected: session 0x{zk.session_id:x}, codec backend {zkfast.codec_backend}")
        zk.ensure_path("/demo/config")
        zk.set("/demo/config", b"v1")
        value, stat = zk.get("/demo/config")
        print(f"get /demo/config -> {value!r} (version {stat.version})")

        changed = threading.Event()
        zk.get("/demo/config", watch=lambda event: (print(f"watch fired: {event.type.name} {event.path}"),
                                                   changed.set()))
        zk.set("/demo/config", b"v2")
        changed.wait(5)

        for name in ("alpha", "beta", "gamma"):
            zk.create(f"/demo/members/{name}", name.encode(), makepath=True)
        print("children of /demo/members:", sorted(zk.get_children("/demo/members")))

        results = zk.transaction().check("/demo/config", 2).set_data("/demo/config", b"v3") \
            .create("/demo/log-", sequence=True).commit()
        print("transaction results:", results[0], results[2])

        t = time.perf_counter()
        futures = [zk.get_async("/demo/config") for _ in range(10000)]
        for f in futures:
            f.result()
        print(f"10,000 pipelined gets in {time.perf_counter() - t:.2f}s")

        events = []
        zk.add_watch("/demo", events.append, recursive=True)
        zk.create("/demo/members/delta")
        zk.delete("/demo/members/alpha")
        deadline = time.monotonic() + 5
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        print("persistent recursive watch saw:", [(e.type.name, e.path) for e in events])


async def async_demo(hosts: str) -> None:
    async with AsyncClient(hosts) as zk:
        await zk.ensure_path("/demo/async")
        paths = await asyncio.gather(*(zk.create(f"/demo/async/n{i}", b"x") for i in range(1000)))
        print(f"AsyncClient created {len(paths)} nodes in one pipelined gather")
        print("count under /demo:", await zk.count_children("/demo"))
        await zk.delete("/demo", recursive=True)
        print("deleted /demo recursively; exists now:", await zk.exists("/demo"))


def main() -> None:
    print("starting a local ZooKeeper (Debian's jars, a temp data dir, a free loopback port)...")
    with ZooKeeperServer() as server:
        print("ZooKeeper up at", server.hosts)
        sync_demo(server.hosts)
        asyncio.run(async_demo(server.hosts))
    print("done; the server is stopped and its data removed")


if __name__ == "__main__":
    main()
