"""Shared fixtures: real ZooKeeper servers come from zkfast.testing's plugin."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, List

import pytest

from zkfast import Client
from zkfast.testing import ZooKeeperServer

from clients import KINDS, close_all, new_client
from helpers import EventLog

pytest_plugins = ["zkfast.testing.pytest_plugin"]


def pytest_report_header(config: pytest.Config) -> str:
    import zkfast
    return f"zkfast codec backend: {zkfast.codec_backend}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI runs the suite twice; make sure each run really has the backend it claims.
    import zkfast
    want = "python" if os.environ.get("ZKFAST_NO_EXTENSIONS", "") not in ("", "0") else None
    if want and zkfast.codec_backend != want:
        raise pytest.UsageError(f"ZKFAST_NO_EXTENSIONS set but backend is {zkfast.codec_backend}")
    if os.environ.get("ZKFAST_REQUIRE_CYTHON") and zkfast.codec_backend != "cython":
        raise pytest.UsageError("ZKFAST_REQUIRE_CYTHON set but the Cython codec is not in use")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which client a scenario runs on: "sync" (Client) or "async" (AsyncClient
    behind tests/clients.py's blocking facade). A test that is about one of them
    only overrides it: ``@pytest.mark.parametrize("kind", ["sync"])``."""
    return str(request.param)


@pytest.fixture
def make_client(zk_server: ZooKeeperServer, zk_chroot: str) -> Iterator[Callable[..., Client]]:
    """Factory of started clients chrooted to this test's private base path
    (``kind="async"``: an AsyncClient behind the blocking facade of tests/clients.py)."""
    admin = Client(zk_server.hosts)
    admin.start()
    admin.ensure_path(zk_chroot)
    made: List[Any] = []

    def make(hosts: str | None = None, chroot: bool = True, start: bool = True,
             kind: str = "sync", **kw: Any) -> Any:
        h = hosts or zk_server.hosts
        if chroot:
            h = h + zk_chroot
        kw.setdefault("session_timeout", 10.0)
        c = new_client(kind, h, **kw)
        made.append(c)
        if start:
            c.start()
        return c

    yield make
    try:
        close_all(made)
    finally:
        try:
            admin.delete(zk_chroot, recursive=True)
        finally:
            admin.close()


@pytest.fixture
def base(zk_server: ZooKeeperServer, zk_chroot: str) -> Iterator[str]:
    """This test's private base path, created first and deleted (recursively)
    after; for tests that build their clients themselves."""
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
    yield zk_chroot
    with Client(zk_server.hosts) as admin:
        admin.delete(zk_chroot, recursive=True)


@pytest.fixture
def zk(make_client: Callable[..., Client]) -> Client:
    """A started client whose '/' is this test's private chroot."""
    return make_client()


@pytest.fixture
def events() -> Callable[[], EventLog]:
    return EventLog
