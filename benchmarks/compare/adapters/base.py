"""The adapter interface (one client under test) and the timing helpers all adapters share."""

from __future__ import annotations

import threading
from time import perf_counter as _perf
from typing import Any, Callable, Dict, List, Tuple

from ..catalogue import D100


class NotApplicable(Exception):
    """Raised by a workload the client cannot run; the cell shows the message."""


def ms_each(call: Callable[[], Any], calls: int) -> List[float]:
    """Milliseconds of each of ``calls`` blocking calls; a result (a 100k-name list)
    is freed after its clock stops, so freeing it is not timed."""
    out = []
    for _ in range(calls):
        t0 = _perf()
        result = call()
        out.append((_perf() - t0) * 1000)
        del result
    return out


def ops_per_second(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Adapter:
    """One client under test. Each method returns a list of samples in the workload unit."""

    name = ""

    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        self.hosts = hosts
        self.plan = plan
        self.data = b"x" * plan["data_size"]

    def close(self) -> None: ...

    def warmup(self) -> None: ...

    def get_sync(self, n: int) -> List[float]: raise NotImplementedError

    def get_pipelined(self, n: int) -> List[float]: raise NotImplementedError

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        """create, set, delete ``n`` nodes under ``base`` (pipelined); ops/s each."""
        raise NotImplementedError

    def get_children(self, calls: int) -> List[float]: raise NotImplementedError

    def scan(self, paths: List[str], window: int) -> List[float]: raise NotImplementedError

    def get_big(self, calls: int) -> List[float]: raise NotImplementedError

    def mixed(self, base: str, threads: int, ops: int) -> List[float]:
        raise NotImplementedError

    def treecache(self, expected: int) -> List[float]: raise NotImplementedError

    def get_threads(self, threads: int, ops: int) -> List[float]:
        """``threads`` threads share the client, each ``ops`` blocking gets; ops/s."""
        raise NotImplementedError

    def get_children_at(self, path: str, expected: int, calls: int) -> List[float]:
        """ms of each of ``calls`` get_children(path) (after one checked warm-up call)."""
        raise NotImplementedError

    def counters(self) -> Dict[str, int]:
        """The client's own counters worth keeping with the samples (zkfast: frames, batches)."""
        return {}

    def children_once(self) -> int:
        """One get_children(KIDS) for the memory probe; returns the count, keeps nothing."""
        raise NotImplementedError


def check_children(n: int, expected: int) -> None:
    if n != expected:
        raise AssertionError(f"get_children returned {n} names, expected {expected}")



def _timed_threads(threads: int, ops: int, body: Callable[[int, Callable[[], Any]], None]) -> float:
    """Run ``body(t, ready)`` in ``threads`` threads; each calls ``ready()`` when set
    up, and the clock runs from the moment all are ready until all are done. The
    first error of any thread is raised; else ops/s over ``threads * ops`` calls."""
    start = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def run(t: int) -> None:
        try:
            body(t, start.wait)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            start.abort()  # a thread that failed before it was ready must not leave the others waiting

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass  # the error is raised below
    t0 = _perf()
    for th in ts:
        th.join()
    t = _perf() - t0
    if errors:
        raise errors[0]
    return ops_per_second(threads * ops, t)


def run_threads(threads: int, ops: int, setup: Callable[[int], Tuple[Any, Any, str, bytes]]) -> float:
    """``threads`` threads, each ``ops`` calls: every 5th a set of its own node, else a get."""

    def body(t: int, ready: Callable[[], Any]) -> None:
        get, set_, own, data = setup(t)
        ready()
        for i in range(ops):
            if i % 5 == 4:
                set_(own, data)
            else:
                get(D100)

    return _timed_threads(threads, ops, body)


def run_gets(threads: int, ops: int, get: Callable[[str], Any]) -> float:
    """``threads`` threads started together, each ``ops`` blocking ``get(D100)``; ops/s."""

    def body(t: int, ready: Callable[[], Any]) -> None:
        ready()
        for _ in range(ops):
            get(D100)

    return _timed_threads(threads, ops, body)
