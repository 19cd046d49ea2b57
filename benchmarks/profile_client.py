#!/usr/bin/env python
"""A steady hot-path load for profilers (py-spy, perf, cProfile), on its own ZooKeeper.

    # where do the microseconds of a synchronous get go?
    py-spy record -r 2000 --native -o sync.svg -- python benchmarks/profile_client.py sync
    # collapsed stacks, then a per-function summary
    py-spy record -r 2000 --native -f raw -o sync.txt -- python benchmarks/profile_client.py sync
    python benchmarks/profile_client.py --summarize sync.txt
    # or without py-spy
    python benchmarks/profile_client.py sync --cprofile

Modes: sync (Client.get loop), pipelined (Client.get_async batches), aio (AsyncClient
await loop), aio-pipelined (AsyncClient gather batches), children (get_children of N),
threads (--threads N threads share one Client, each a blocking get loop: compare.py's get_threads),
raw / raw-pipelined (compare.py's raw-socket ceiling, for the CPU-per-request baseline).
Each run prints wall time and this process's CPU time (user + sys) per request.
The codec backend follows ZKFAST_NO_EXTENSIONS as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import resource
import sys
import time
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"
if (_SRC / "zkfast").is_dir():
    sys.path.insert(0, str(_SRC))

PATH = "/prof/d100"


def load(mode: str, hosts: str, seconds: float, batch: int, children: int, threads: int = 16) -> None:
    import zkfast

    zk = zkfast.Client(hosts, max_buffer_size=16 << 20)
    zk.start()
    zk.ensure_path(PATH)  # also with --hosts, where an earlier run left it
    zk.set(PATH, b"x" * 100)
    if mode == "children":
        zk.delete("/prof/kids", recursive=True) if zk.exists("/prof/kids") else None
        zk.create("/prof/kids")
        fs = [zk.create_async(f"/prof/kids/{i:x}") for i in range(children)]
        for f in fs:
            f.result()
    print(f"backend={zkfast.codec_backend} mode={mode}", file=sys.stderr)
    n = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    end = t0 + seconds
    if mode == "sync":
        get = zk.get
        while time.perf_counter() < end:
            for _ in range(1000):
                get(PATH)
            n += 1000
    elif mode == "pipelined":
        ga = zk.get_async
        while time.perf_counter() < end:
            fs = [ga(PATH) for _ in range(batch)]
            for f in fs:
                f.result()
            n += batch
    elif mode == "threads":
        # compare.py's get_threads: N threads share the client, each a blocking get loop
        import threading
        get = zk.get
        counts = [0] * threads

        def body(t: int) -> None:
            k = 0
            while time.perf_counter() < end:
                for _ in range(100):
                    get(PATH)
                k += 100
            counts[t] = k
        ts = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        n = sum(counts)
    elif mode in ("raw", "raw-pipelined"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from compare.rawjute import RawConn, raw_get_data
        raw = RawConn(hosts)
        frame = raw_get_data(1, PATH)
        while time.perf_counter() < end:
            if mode == "raw":
                for _ in range(1000):
                    raw.roundtrip(frame)
                n += 1000
            else:
                raw.pipeline([frame] * batch)
                n += batch
        raw.close()
    elif mode == "children":
        while time.perf_counter() < end:
            zk.get_children("/prof/kids")
            n += 1
    elif mode in ("aio", "aio-pipelined"):
        async def go() -> int:
            c = zkfast.AsyncClient(hosts)
            await c.start()
            k = 0
            get = c.get
            while time.perf_counter() < end:
                if mode == "aio":
                    for _ in range(1000):
                        await get(PATH)
                    k += 1000
                else:
                    await asyncio.gather(*[get(PATH) for _ in range(batch)])
                    k += batch
            await c.close()
            return k
        n = asyncio.run(go())
    else:
        raise SystemExit(f"unknown mode {mode}")
    dt = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    user = (ru1.ru_utime - ru0.ru_utime) / n * 1e6
    system = (ru1.ru_stime - ru0.ru_stime) / n * 1e6
    switches = ((ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw)) / n
    print(f"{n} requests in {dt:.2f}s: {n / dt:,.0f}/s, {dt / n * 1e6:.1f} us wall each; "
          f"client CPU per request {user:.1f} us user + {system:.1f} us sys, "
          f"{switches:.2f} context switches (all threads, this process only)", file=sys.stderr)
    zk.close()


def summarize(path: str, top: int = 40) -> None:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    self_c: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    threads: collections.Counter = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        if "importlib" in stack or "testing/server.py" in stack:
            continue  # start-up, not the hot path
        total += c
        frames = stack.split(";")
        threads[frames[0]] += c
        self_c[frames[-1]] += c
        for f in set(frames[1:]):
            incl[f] += c
    print(f"{total} samples")
    print("by thread:")
    for t, c in threads.most_common():
        print(f"  {100 * c / total:5.1f}%  {t}")
    print(f"top {top} self:")
    for f, c in self_c.most_common(top):
        print(f"  {100 * c / total:5.1f}%  {f}")
    print(f"top {top} inclusive:")
    for f, c in incl.most_common(top):
        print(f"  {100 * c / total:5.1f}%  {f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", nargs="?", default="sync",
                   choices=["sync", "pipelined", "aio", "aio-pipelined", "children", "raw",
                            "raw-pipelined", "threads"])
    p.add_argument("--threads", type=int, default=16, help="threads of the threads mode")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--children", type=int, default=100000)
    p.add_argument("--hosts", help="use this server instead of starting one")
    p.add_argument("--cprofile", action="store_true", help="profile this thread with cProfile")
    p.add_argument("--summarize", metavar="RAW", help="summarize a py-spy -f raw file and exit")
    args = p.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return

    def run(hosts: str) -> None:
        if args.cprofile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.runcall(load, args.mode, hosts, args.seconds, args.batch, args.children,
                         args.threads)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        else:
            load(args.mode, hosts, args.seconds, args.batch, args.children, args.threads)

    if args.hosts:
        run(args.hosts)
    else:
        from zkfast.testing import ZooKeeperServer
        with ZooKeeperServer(jvm_flags=["-Xmx1g"]) as server:
            run(server.hosts)


if __name__ == "__main__":
    main()
