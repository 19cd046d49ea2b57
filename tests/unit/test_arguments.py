"""Bad arguments fail in the caller, typed, before anything is sent."""

from __future__ import annotations

import pytest

from zkfast import Client, InvalidArgumentError, InvalidPathError
from zkfast.paths import validate_path


@pytest.mark.parametrize("hosts", ["", "   ", "h:notaport", "127.0.0.1:99999", "127.0.0.1:0", ",,"])
def test_bad_connect_strings_are_typed_errors(hosts: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Client(hosts)


def test_a_list_of_servers_is_a_connect_string() -> None:
    zk = Client(["127.0.0.1:2181", "127.0.0.2:2182/app"])
    assert zk.config.servers == [("127.0.0.1", 2181), ("127.0.0.2", 2182)] and zk.chroot == "/app"
    with pytest.raises(TypeError):
        Client(2181)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/p/\U0001F600", "/\U00010000", "/a/\U0010FFFF/b", "/x\ud800"])
def test_characters_the_server_refuses_are_refused_here(path: str) -> None:
    # outside the BMP: the server sees Java surrogate pairs and answers BadArguments
    with pytest.raises(InvalidPathError):
        validate_path(path)
    with pytest.raises(InvalidPathError):
        Client("127.0.0.1:1").requests.op_get(path)


@pytest.mark.parametrize("path", ["/ü", "/中文", "/a-b_c.d", "/\uffef"])
def test_ordinary_unicode_is_fine(path: str) -> None:
    assert validate_path(path) == path


def test_multi_takes_op_records() -> None:
    zk = Client("127.0.0.1:1")
    with pytest.raises(InvalidArgumentError, match="op records"):
        zk.requests.op_multi(["create /x"])
    with pytest.raises(InvalidArgumentError):
        zk.requests.op_multi_read([("get", "/x")])


@pytest.mark.parametrize("kw", [dict(session_timeout=0), dict(session_timeout=-1),
                                dict(session_timeout=True), dict(connection_timeout=0),
                                dict(max_buffer_size=10), dict(auth_data=[("", "x")])])
def test_bad_options_are_typed_errors(kw: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        Client("127.0.0.1:2181", **kw)


def test_sasl_without_pure_sasl_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "puresasl", None)
    monkeypatch.setitem(sys.modules, "puresasl.client", None)
    with pytest.raises(InvalidArgumentError, match="pure-sasl"):
        Client("127.0.0.1:2181", sasl_options={"username": "u", "password": "p"})
