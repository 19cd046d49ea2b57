"""SASL DIGEST-MD5 against a real server configured with a JAAS file."""

from __future__ import annotations

import asyncio

import pytest

import zkfast
from zkfast import AsyncClient, Client, State
from zkfast.testing import TcpProxy, ZooKeeperServer
from zkfast.testing.pytest_plugin import SASL_USERS

from helpers import wait_until


def _opts(user: str, password: str) -> dict:
    return {"mechanism": "DIGEST-MD5", "username": user, "password": password}


def test_digest_md5_login_and_sasl_acl(zk_sasl_server: ZooKeeperServer) -> None:
    user = "bob"
    with Client(zk_sasl_server.hosts, sasl_options=_opts(user, SASL_USERS[user])) as zk:
        assert zkfast.ClientInfo("sasl", user) in zk.whoami()
        path = zk.create("/sasl-only-" + str(zk.session_id), b"s",
                         acl=[zkfast.ACL(zkfast.Perm.ALL, zkfast.Id("sasl", user))])
        assert zk.get(path)[0] == b"s"
        with Client(zk_sasl_server.hosts) as anon:
            with pytest.raises(zkfast.NoAuthError):
                anon.get(path)
        zk.delete(path)


def test_wrong_password_is_auth_failed(zk_sasl_server: ZooKeeperServer) -> None:
    states = []
    zk = Client(zk_sasl_server.hosts, sasl_options=_opts("bob", "wrong"))
    zk.add_listener(states.append)
    with pytest.raises(zkfast.AuthFailedError):
        zk.start(timeout=10)
    wait_until(lambda: State.AUTH_FAILED in states)
    zk.close()


def test_sasl_is_redone_after_reconnect(zk_sasl_server: ZooKeeperServer) -> None:
    with TcpProxy(zk_sasl_server.host, zk_sasl_server.port) as proxy:
        with Client(proxy.hosts, sasl_options=_opts("alice", SASL_USERS["alice"])) as zk:
            sid = zk.session_id
            proxy.drop_all()
            wait_until(lambda: zk.state == State.SUSPENDED or proxy.connections_accepted >= 2)
            assert zk.wait_connected(15)
            assert zk.session_id == sid
            assert zkfast.ClientInfo("sasl", "alice") in zk.whoami()


def test_async_sasl_login(zk_sasl_server: ZooKeeperServer) -> None:
    async def main() -> None:
        async with AsyncClient(zk_sasl_server.hosts, sasl_options=_opts("bob", SASL_USERS["bob"])) as zk:
            assert zkfast.ClientInfo("sasl", "bob") in await zk.whoami()
        bad = AsyncClient(zk_sasl_server.hosts, sasl_options=_opts("bob", "nope"))
        with pytest.raises(zkfast.AuthFailedError):
            await bad.start(timeout=10)
    asyncio.run(asyncio.wait_for(main(), 60))


def test_credentials_never_in_repr_or_logs(zk_sasl_server: ZooKeeperServer, caplog) -> None:
    import logging
    caplog.set_level(logging.DEBUG, logger="zkfast")
    secret = SASL_USERS["bob"]
    with Client(zk_sasl_server.hosts, sasl_options=_opts("bob", secret),
                auth_data=[("digest", "bob:digestsecret")]) as zk:
        zk.add_auth("digest", "carol:carolsecret")
        text = repr(zk) + caplog.text + repr(zk._engine.auth[0][0])
    assert secret not in text and "digestsecret" not in text and "carolsecret" not in text
