"""Small test helpers shared by the test modules."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

from zkfast import Client, State


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``pred`` until truthy; fail the test (not hang) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


class EventLog:
    """A watch callback that records events and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: List[Any] = []
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 10.0) -> List[Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.events) >= n, timeout)
        assert ok, f"expected {n} events within {timeout}s, got {self.events}"
        return list(self.events)


def expire(hosts: str, client: Any) -> None:
    """Expire ``client``'s session the ZooKeeper way (False from the harness,
    meaning it was already expired, is fine too)."""
    from zkfast.testing import expire_session
    expire_session(hosts, *client.client_id)


class States:
    """A state listener that counts transitions and lets a test wait for one."""

    def __init__(self, client: Client) -> None:
        self.seen: List[State] = []
        self.cond = threading.Condition()
        client.add_listener(self)

    def __call__(self, state: State) -> None:
        with self.cond:
            self.seen.append(state)
            self.cond.notify_all()

    def count(self, state: State) -> int:
        with self.cond:
            return self.seen.count(state)

    def wait_for(self, state: State, count: int = 1, timeout: float = 15.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.seen.count(state) >= count, timeout)
        assert ok, f"state {state.value} x{count} not reached within {timeout}s: {self.seen}"
