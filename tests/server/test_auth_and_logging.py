"""A refused identity fails the first call (not the connection later), and
what zkfast says about itself: logging that stays quiet unless asked, one
warning for an outage, threads and tasks that say which client they serve."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
import time
from typing import Any, List

import pytest

from zkfast import AsyncClient, AuthFailedError, Client, State, WaitTimeoutError
from zkfast.testing import ZooKeeperServer

from helpers import wait_until


def test_an_unknown_auth_scheme_fails_the_first_call(zk_server: ZooKeeperServer) -> None:
    seen: List[State] = []
    zk = Client(zk_server.hosts, auth_data=[("nosuchscheme", "bar")])
    zk.add_listener(seen.append)
    with pytest.raises(AuthFailedError):
        zk.start(10)
    assert State.CONNECTED not in seen and State.AUTH_FAILED in seen
    assert zk.state in (State.AUTH_FAILED, State.CLOSED)


def test_calls_queued_before_a_refused_auth_fail_with_auth_failed(zk_proxy: Any) -> None:
    zk = Client(zk_proxy.hosts, auth_data=[("nosuchscheme", "bar")])
    zk_proxy.refuse(True)  # connecting, not connected: calls are queued
    errors: List[BaseException] = []
    starter = threading.Thread(target=lambda: _start(zk, errors))
    starter.start()
    try:
        wait_until(lambda: zk._session.started)
        fut = zk.get_async("/")
        zk_proxy.refuse(False)
        assert isinstance(fut.exception(15), AuthFailedError)
        starter.join(20)
        assert len(errors) == 1 and isinstance(errors[0], AuthFailedError)
    finally:
        zk.close()


def _start(zk: Client, errors: List[BaseException]) -> None:
    try:
        zk.start(15)
    except BaseException as e:  # noqa: BLE001 - checked by the test
        errors.append(e)


def test_an_unknown_auth_scheme_on_the_async_client(zk_server: ZooKeeperServer) -> None:
    async def main() -> None:
        zk = AsyncClient(zk_server.hosts, auth_data=[("nosuchscheme", "bar")])
        seen: List[State] = []
        zk.add_listener(seen.append)
        with pytest.raises(AuthFailedError):
            await zk.start(10)
        assert State.CONNECTED not in seen
    asyncio.run(main())


def test_a_good_identity_is_in_place_before_connected(zk_server: ZooKeeperServer) -> None:
    with Client(zk_server.hosts, auth_data=[("digest", "u:p")]) as zk:
        assert any(i.auth_scheme == "digest" for i in zk.whoami())


def test_zkfast_prints_nothing_unless_logging_is_configured() -> None:
    code = ("import logging, zkfast; "
            "logging.getLogger('zkfast.client').warning('session expired'); "
            "logging.getLogger('zkfast.recipe').error('boom')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "" and out.stdout == ""


def test_an_outage_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.DEBUG, logger="zkfast")
    zk = Client(f"127.0.0.1:{port}", session_timeout=4.0)
    with pytest.raises(WaitTimeoutError):
        zk.start(1.5)  # many rounds of failed connects
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("zkfast")]
    debugs = [r for r in caplog.records if "failed" in r.getMessage() and r.levelno == logging.DEBUG]
    assert len(warnings) == 1 and "cannot connect" in warnings[0].getMessage()
    assert len(debugs) >= 3


def test_threads_and_tasks_say_which_client_they_serve(zk_server: ZooKeeperServer) -> None:
    with Client(zk_server.hosts, name="orders"), Client(zk_server.hosts) as b:
        names = {t.name for t in threading.enumerate()}
        assert {"zkfast-io[orders]", "zkfast-dispatch[orders]"} <= names
        assert f"zkfast-io[{b.config.name}]" in names and b.config.name != "orders"

    async def main() -> None:
        async with AsyncClient(zk_server.hosts, name="billing"):
            tasks = {t.get_name() for t in asyncio.all_tasks()}
            assert {"zkfast-connect[billing]", "zkfast-dispatch[billing]",
                    "zkfast-heartbeat[billing]"} <= tasks
    asyncio.run(main())


def test_a_watcher_rearming_on_close_logs_no_error(zk_server: ZooKeeperServer, zk_chroot: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="zkfast")
    events: List[Any] = []
    with Client(zk_server.hosts) as zk:
        zk.ensure_path(zk_chroot)

        def rearm(event: Any) -> None:
            events.append(event)
            zk.exists(zk_chroot, watch=rearm)  # ClosedError once the client is closed

        zk.exists(zk_chroot, watch=rearm)
        zk.delete(zk_chroot)
        wait_until(lambda: events)
    wait_until(lambda: len(events) >= 2)  # NOT_WATCHING at close
    time.sleep(0.2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
