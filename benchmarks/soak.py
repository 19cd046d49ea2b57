"""A bounded soak: mixed load against real servers with periodic faults, then a
check that nothing acknowledged was lost.

    python benchmarks/soak.py                 # 10 minutes against its own Ensemble(3)
    python benchmarks/soak.py --quick         # 30 s
    python benchmarks/soak.py --minutes 3 --standalone --json soak.json

It starts its own ZooKeeper (never touches a running one) through ``zkfast.testing``,
puts a :class:`~zkfast.testing.TcpProxy` in front of every server, and runs threads,
each with its own :class:`~zkfast.Client` on the proxies:

- ``seq``     pipelined sequential creates (windows of 16 ``create_async``); every
              acknowledged path is remembered;
- ``kv``      sync create / get / set / delete of its own keys; the last acknowledged
              state of every key is remembered (a key whose later op failed with
              ConnectionLossError is "ambiguous" and skipped by the check);
- ``watch``   a data watch re-armed on every event, plus a setter;
- ``lock``    two clients taking turns on one :class:`~zkfast.recipe.Lock`; an
              in-process check counts overlapping holders;
- ``counter`` two clients incrementing one :class:`~zkfast.recipe.Counter`.

Faults (one every ``--fault-interval`` s, 45 by default, cycling): SIGTERM restart of a
member, kill -9 of the leader (restarted), a forced session expiry of one client
(``zkfast.testing.expire_session``), kill -9 of a follower (restarted); a proxy
``drop_all`` (connection reset) every ``--drop-interval`` s (15). Before a kill -9 the load
is paused until every member reports the same zxid (a server killed while writing its
txn log may not come back), then released at once. ``--standalone`` uses one server.

At the end: every acknowledged sequential create exists, every unambiguous key has
its last acknowledged value (or is gone if its last acknowledged op was a delete),
the counter equals the acknowledged increments (plus at most the ambiguous ones).
The summary prints requests, errors by type, recoveries (reconnects, session
expiries), max request latency and ``lost`` (must be 0; exit status 1 otherwise).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import zkfast  # noqa: E402
from zkfast import Client, ConnectionLossError, NoNodeError, NodeExistsError, State, ZooKeeperError  # noqa: E402
from zkfast.recipe import Counter, Lock  # noqa: E402
from zkfast.testing import Ensemble, TcpProxy, ZooKeeperServer, expire_session  # noqa: E402

ROOT = "/soak"
SESSION_TIMEOUT = 10.0


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: Dict[str, int] = collections.Counter()
        self.max_latency = 0.0
        self.max_latency_op = ""
        self.faults: Dict[str, int] = collections.Counter()
        self.unexpected: List[str] = []

    def timed(self, op: str, fn: Callable[[], Any], latency: bool = True,
              expected: tuple = ()) -> Any:
        t0 = time.monotonic()
        try:
            return fn()
        except expected:
            raise  # a normal answer (NoNode when probing a key), not an error
        except ZooKeeperError as e:
            with self.lock:
                self.errors[type(e).__name__] += 1
            raise
        finally:
            dt = time.monotonic() - t0
            with self.lock:
                self.requests += 1
                if latency and dt > self.max_latency:
                    self.max_latency, self.max_latency_op = dt, op

    def error(self, e: BaseException) -> None:
        with self.lock:
            self.errors[type(e).__name__] += 1

    def count(self, n: int = 1) -> None:
        with self.lock:
            self.requests += n


class StateCount:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Dict[str, int] = collections.Counter()

    def __call__(self, state: State) -> None:
        with self.lock:
            self.seen[state.value] += 1


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.stats = Stats()
        self.states = StateCount()
        self.stop = threading.Event()
        self.gate = threading.Event()  # cleared: workers park between requests
        self.gate.set()
        self.parked: set = set()
        self.parked_lock = threading.Lock()
        self.clients: List[Client] = []
        # what the check at the end verifies
        self.seq_acked: List[str] = []
        self.seq_ambiguous = 0
        self.kv_state: Dict[str, Optional[bytes]] = {}  # key -> last acked value (None: deleted)
        self.kv_ambiguous: set = set()
        self.incs_acked = 0
        self.incs_ambiguous = 0
        self.watch_events = 0
        self.lock_acquired = 0
        self.lock_overlaps = 0
        self.lock_holders = 0
        self.data_lock = threading.Lock()

    # ---------------------------------------------------------------- setup

    def start_servers(self) -> None:
        if self.args.standalone:
            self.ensemble = None
            self.servers = [ZooKeeperServer(max_session_timeout=40000).start()]
        else:
            self.ensemble = Ensemble(3).start()
            self.servers = list(self.ensemble)
        self.proxies = [TcpProxy(s.host, s.port).start() for s in self.servers]
        self.hosts = ",".join(p.hosts for p in self.proxies)

    def client(self) -> Client:
        c = Client(self.hosts, session_timeout=SESSION_TIMEOUT)
        c.start(30)
        c.add_listener(self.states)
        self.clients.append(c)
        return c

    # ---------------------------------------------------------------- workers

    def park(self, name: str) -> None:
        if not self.gate.is_set():
            with self.parked_lock:
                self.parked.add(name)
            self.gate.wait()
            with self.parked_lock:
                self.parked.discard(name)

    def run_worker(self, name: str, body: Callable[[], None]) -> None:
        while not self.stop.is_set():
            self.park(name)
            try:
                body()
            except ZooKeeperError as e:
                self.stats.error(e)
                time.sleep(0.05)
            except BaseException as e:  # noqa: BLE001 - a bug: reported, counted as unexpected
                self.stats.unexpected.append(f"{name}: {type(e).__name__}: {e}")
                time.sleep(0.5)
        with self.parked_lock:
            self.parked.add(name)

    def seq_worker(self, i: int) -> Callable[[], None]:
        zk = self.client()
        base = f"{ROOT}/seq/w{i}"
        zk.ensure_path(base)

        def body() -> None:
            t0 = time.monotonic()
            futs = [zk.create_async(base + "/n-", b"s", sequence=True) for _ in range(16)]
            acked, amb = [], 0
            for f in futs:
                try:
                    acked.append(f.result(60))
                except ConnectionLossError as e:
                    amb += 1
                    self.stats.error(e)
                except ZooKeeperError as e:
                    self.stats.error(e)
            dt = time.monotonic() - t0
            with self.stats.lock:
                self.stats.requests += len(futs)
                if dt > self.stats.max_latency:
                    self.stats.max_latency, self.stats.max_latency_op = dt, "create_async x16"
            with self.data_lock:
                self.seq_acked += acked
                self.seq_ambiguous += amb
            time.sleep(0.02)
        return body

    def kv_worker(self, i: int) -> Callable[[], None]:
        zk = self.client()
        base = f"{ROOT}/kv/w{i}"
        zk.ensure_path(base)
        rng = random.Random(i)
        keys = [f"{base}/k{n}" for n in range(50)]
        version = [0]

        def write(key: str, op: str, fn: Callable[[], Any], new: Optional[bytes]) -> None:
            try:
                self.stats.timed(op, fn)
            except ConnectionLossError:
                with self.data_lock:
                    self.kv_ambiguous.add(key)
                raise
            except (NoNodeError, NodeExistsError):
                # an earlier ambiguous op did (or did not) happen: learn the truth
                self.resync(zk, key)
                return
            with self.data_lock:
                self.kv_state[key] = new
                self.kv_ambiguous.discard(key)

        def body() -> None:
            key = rng.choice(keys)
            version[0] += 1
            val = f"{key}:{version[0]}".encode()
            with self.data_lock:
                known = key in self.kv_state and key not in self.kv_ambiguous
                exists = self.kv_state.get(key) is not None
            if not known:
                self.resync(zk, key)
                return
            r = rng.random()
            if not exists:
                write(key, "create", lambda: zk.create(key, val), val)
            elif r < 0.5:
                got = self.stats.timed("get", lambda: zk.get(key))[0]
                with self.data_lock:
                    want = self.kv_state.get(key)
                    sure = key not in self.kv_ambiguous
                if sure and got != want:
                    self.stats.unexpected.append(f"kv read {key}: got {got!r}, last acked {want!r}")
            elif r < 0.85:
                write(key, "set", lambda: zk.set(key, val), val)
            else:
                write(key, "delete", lambda: zk.delete(key), None)
        return body

    def resync(self, zk: Client, key: str) -> None:
        """Read a key's real state (after an ambiguous write) and trust it from now on."""
        try:
            zk.sync(key)
            value: Optional[bytes] = self.stats.timed("get", lambda: zk.get(key),
                                                      expected=(NoNodeError,))[0]
        except NoNodeError:
            value = None
        with self.data_lock:
            self.kv_state[key] = value
            self.kv_ambiguous.discard(key)

    def watch_workers(self) -> List[Callable[[], None]]:
        watcher = self.client()
        setter = self.client()
        path = f"{ROOT}/watched"
        setter.ensure_path(path)

        def arm(event: Any = None) -> None:
            if event is not None:
                with self.data_lock:
                    self.watch_events += 1
            if self.stop.is_set():
                return
            try:
                watcher.exists_async(path, watch=arm)
            except ZooKeeperError as e:
                self.stats.error(e)

        arm()
        n = [0]

        def set_body() -> None:
            n[0] += 1
            self.stats.timed("set", lambda: setter.set(path, str(n[0]).encode()))
            time.sleep(0.05)

        def read_body() -> None:
            self.stats.timed("get+watch", lambda: watcher.get(path, watch=lambda e: None))
            time.sleep(0.05)
        return [set_body, read_body]

    def lock_worker(self, i: int) -> Callable[[], None]:
        zk = self.client()
        lock = Lock(zk, f"{ROOT}/lock", f"w{i}")

        def body() -> None:
            if not self.stats.timed("lock.acquire", lambda: lock.acquire(timeout=15), latency=False):
                return
            with self.data_lock:
                self.lock_holders += 1
                if self.lock_holders > 1:
                    self.lock_overlaps += 1
                self.lock_acquired += 1
            try:
                time.sleep(0.01)
            finally:
                with self.data_lock:
                    self.lock_holders -= 1
                self.stats.timed("lock.release", lock.release)
        return body

    def counter_worker(self) -> Callable[[], None]:
        zk = self.client()
        counter = Counter(zk, f"{ROOT}/counter")

        def body() -> None:
            try:
                self.stats.timed("counter.add", lambda: counter.add(1))
            except ConnectionLossError:
                with self.data_lock:
                    self.incs_ambiguous += 1
                raise
            with self.data_lock:
                self.incs_acked += 1
        return body

    # ---------------------------------------------------------------- faults

    def zxids(self) -> List[Optional[str]]:
        out = []
        for s in self.servers:
            try:
                m = re.search(r"^Zxid: (\S+)", s.four_letter("srvr", 1.0), re.M)
                out.append(m.group(1) if m else None)
            except OSError:
                out.append(None)
        return out

    def quiesce(self, workers: int) -> None:
        """Park the load and wait until every member has the same last zxid."""
        self.gate.clear()
        deadline = time.monotonic() + 60
        while len(self.parked) < workers and time.monotonic() < deadline:
            time.sleep(0.01)
        last = None
        while time.monotonic() < deadline:
            z = self.zxids()
            if len(set(z)) == 1 and z[0] is not None:
                if z == last:
                    return
                last = z
            time.sleep(0.05)

    def fault_loop(self, workers: int) -> None:
        kinds = (["restart", "kill-leader", "expire", "kill-follower"] if self.ensemble
                 else ["restart", "kill", "expire"])
        next_fault = time.monotonic() + self.args.fault_interval
        next_drop = time.monotonic() + self.args.drop_interval
        k = 0
        while not self.stop.wait(0.2):
            now = time.monotonic()
            if now >= next_drop:
                busy = [p for p in self.proxies if p.active_connections]
                proxy = self.rng.choice(busy or self.proxies)
                n = proxy.drop_all()
                self.stats.faults["proxy drop_all"] += 1
                self.log(f"fault: proxy {proxy.hosts} drop_all ({n} connections)")
                next_drop = now + self.args.drop_interval
            if now >= next_fault:
                kind = kinds[k % len(kinds)]
                k += 1
                try:
                    self.inject(kind, workers)
                except Exception as e:  # noqa: BLE001 - a harness failure ends the soak
                    self.stats.unexpected.append(f"fault {kind}: {type(e).__name__}: {e}")
                    self.stop.set()
                next_fault = time.monotonic() + self.args.fault_interval

    def inject(self, kind: str, workers: int) -> None:
        t0 = time.monotonic()
        if kind == "expire":
            idx = self.rng.randrange(len(self.clients))
            sid, pw = self.clients[idx].client_id
            expire_session(",".join(s.hosts for s in self.servers), sid, pw or b"")
            self.stats.faults[kind] += 1
            self.log(f"fault: expired the session of client {idx} ({sid:#x})")
            return
        if kind == "restart":
            idx = self.rng.randrange(len(self.servers))
            self.quiesce(workers)
            self.servers[idx].stop()
            self.gate.set()
            time.sleep(1.0)
            self.servers[idx].start(60)
        else:
            if kind == "kill-leader":
                idx = self.ensemble.leader()
            elif kind == "kill-follower":
                lead = self.ensemble.leader()
                idx = self.rng.choice([i for i in range(len(self.servers)) if i != lead])
            else:
                idx = 0
            self.quiesce(workers)
            self.servers[idx].kill()
            self.gate.set()
            time.sleep(1.0)
            self.servers[idx].start(60)
        if self.ensemble is not None:
            self.ensemble.wait_for_quorum(60, need_all=True)
        self.gate.set()
        self.stats.faults[kind] += 1
        self.log(f"fault: {kind} member {idx}: serving again after {time.monotonic() - t0:.1f}s")

    # ---------------------------------------------------------------- run + check

    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(f"[{time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    def run(self) -> Dict[str, Any]:
        self.t0 = time.monotonic()
        self.start_servers()
        self.log(f"servers up ({'standalone' if self.args.standalone else 'Ensemble(3)'}), "
                 f"codec {zkfast.codec_backend}")
        with Client(self.hosts) as admin:
            admin.ensure_path(ROOT)
        bodies: Dict[str, Callable[[], None]] = {}
        for i in range(2):
            bodies[f"seq{i}"] = self.seq_worker(i)
        for i in range(3):
            bodies[f"kv{i}"] = self.kv_worker(i)
        setb, readb = self.watch_workers()
        bodies["watch-set"], bodies["watch-get"] = setb, readb
        for i in range(2):
            bodies[f"lock{i}"] = self.lock_worker(i)
        for i in range(2):
            bodies[f"counter{i}"] = self.counter_worker()
        threads = [threading.Thread(target=self.run_worker, args=(n, b), name=n, daemon=True)
                   for n, b in bodies.items()]
        faults = threading.Thread(target=self.fault_loop, args=(len(threads),), name="faults",
                                  daemon=True)
        load_start = time.monotonic()
        for t in threads:
            t.start()
        faults.start()
        end = load_start + self.args.minutes * 60
        last_report = load_start
        while time.monotonic() < end and not self.stop.is_set():
            time.sleep(0.5)
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                self.log(f"requests {self.stats.requests}, errors {dict(self.stats.errors)}")
        self.stop.set()
        self.gate.set()
        faults.join(120)
        for t in threads:
            t.join(60)
        hung = [t.name for t in threads if t.is_alive()]
        load_seconds = time.monotonic() - load_start
        for c in self.clients:
            c.close()
        for p in self.proxies:
            p.reset_faults()
        if self.ensemble is not None:
            self.ensemble.ensure_running(60)
        elif not self.servers[0].running:
            self.servers[0].start(60)
        lost = self.check()
        summary = {
            "backend": zkfast.codec_backend,
            "servers": "standalone" if self.args.standalone else "Ensemble(3)",
            "load_seconds": round(load_seconds, 1),
            "threads": len(threads),
            "requests": self.stats.requests,
            "requests_per_second": round(self.stats.requests / load_seconds),
            "errors_by_type": dict(sorted(self.stats.errors.items())),
            "faults_injected": dict(sorted(self.stats.faults.items())),
            "states": dict(sorted(self.states.seen.items())),
            "reconnects": self.states.seen.get("CONNECTED", 0),  # listeners join after start()
            "session_expiries": self.states.seen.get("EXPIRED", 0),
            "max_latency_s": round(self.stats.max_latency, 3),  # lock waits excluded
            "max_latency_op": self.stats.max_latency_op,
            "seq_acked": len(self.seq_acked),
            "seq_ambiguous": self.seq_ambiguous,
            "kv_keys_checked": lost["kv_checked"],
            "counter": lost["counter"],
            "increments_acked": self.incs_acked,
            "increments_ambiguous": self.incs_ambiguous,
            "watch_events": self.watch_events,
            "lock_acquisitions": self.lock_acquired,
            "lock_overlaps": self.lock_overlaps,
            "hung_threads": hung,
            "unexpected": self.stats.unexpected[:20],
            "lost": lost["lost"],
            "lost_detail": lost["detail"][:20],
        }
        return summary

    def check(self) -> Dict[str, Any]:
        detail: List[str] = []
        with Client(",".join(s.hosts for s in self.servers), session_timeout=30) as zk:
            zk.sync(ROOT)
            for i in range(0, len(self.seq_acked), 2000):
                chunk = self.seq_acked[i:i + 2000]
                futs = [zk.exists_async(p) for p in chunk]
                for p, f in zip(chunk, futs):
                    if f.result(60) is None:
                        detail.append(f"acked create missing: {p}")
            kv_checked = 0
            for key, want in self.kv_state.items():
                if key in self.kv_ambiguous:
                    continue
                kv_checked += 1
                try:
                    got: Optional[bytes] = zk.get(key)[0]
                except NoNodeError:
                    got = None
                if got != want:
                    detail.append(f"kv {key}: server has {got!r}, last acked {want!r}")
            try:
                counter = int(zk.get(f"{ROOT}/counter")[0] or b"0")
            except NoNodeError:
                counter = 0
            if not self.incs_acked <= counter <= self.incs_acked + self.incs_ambiguous:
                detail.append(f"counter {counter}: acked {self.incs_acked}, "
                              f"ambiguous {self.incs_ambiguous}")
        return {"lost": len(detail), "detail": detail, "kv_checked": kv_checked, "counter": counter}

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for p in getattr(self, "proxies", []):
            p.close()
        if getattr(self, "ensemble", None) is not None:
            self.ensemble.close()
        else:
            for s in getattr(self, "servers", []):
                s.close()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="load duration (default 10)")
    ap.add_argument("--quick", action="store_true", help="30 s, faults every 10 s")
    ap.add_argument("--standalone", action="store_true", help="one server instead of Ensemble(3)")
    ap.add_argument("--fault-interval", type=float, default=45.0, help="seconds between server faults")
    ap.add_argument("--drop-interval", type=float, default=15.0, help="seconds between proxy resets")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", help="also write the summary here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes = 0.5
        args.fault_interval = min(args.fault_interval, 10.0)
        args.drop_interval = min(args.drop_interval, 7.0)
    soak = Soak(args)
    try:
        summary = soak.run()
    finally:
        soak.close()
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    ok = summary["lost"] == 0 and not summary["hung_threads"] and not summary["unexpected"]
    print(f"SOAK {'PASS' if ok else 'FAIL'}: {summary['requests']} requests, "
          f"{sum(summary['faults_injected'].values())} faults, {summary['reconnects']} reconnects, "
          f"{summary['session_expiries']} expiries, lost={summary['lost']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
