"""Connect-string parsing, host providers and reconnect backoff."""

from __future__ import annotations

import random
import socket
import threading

import pytest

from zkfast.hosts import (
    DEFAULT_PORT,
    DNSHostProvider,
    HostProvider,
    StaticHostProvider,
    backoff,
    format_address,
    format_servers,
    parse_connect_string,
    parse_host,
    reconnect_delay,
)

# ---------------------------------------------------------------------------
# parse_connect_string
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, servers, chroot",
    [
        ("127.0.0.1", [("127.0.0.1", 2181)], None),
        ("127.0.0.1:2182", [("127.0.0.1", 2182)], None),
        (
            "h1:2181,h2,[::1]:2182/chroot/path",
            [("h1", 2181), ("h2", 2181), ("::1", 2182)],
            "/chroot/path",
        ),
        ("h1:2181/chroot/path/", [("h1", 2181)], "/chroot/path"),
        ("h1/", [("h1", 2181)], None),
        ("h1:1/a", [("h1", 1)], "/a"),
        ("[::1]", [("::1", 2181)], None),
        ("::1", [("::1", 2181)], None),
        ("[fe80::1:2]:65535", [("fe80::1:2", 65535)], None),
        (" h1 , h2:3000 ", [("h1", 2181), ("h2", 3000)], None),
        ("h1,,h2,", [("h1", 2181), ("h2", 2181)], None),
        ("zk-1.example.com:2181,zk_2", [("zk-1.example.com", 2181), ("zk_2", 2181)], None),
        ("localhost/app/x-y_z.1", [("localhost", 2181)], "/app/x-y_z.1"),
        ("h1/zk\u00e9", [("h1", 2181)], "/zk\u00e9"),
    ],
)
def test_parse_connect_string(text: str, servers: list, chroot: str | None) -> None:
    assert parse_connect_string(text) == (servers, chroot)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        (",", "no servers"),
        ("/chroot", "no servers"),
        ("h1:", "port"),
        ("h1:abc", "port"),
        ("h1:0", "out of range"),
        ("h1:65536", "out of range"),
        ("h1:-5", "port"),
        ("h1:21 81", "port"),
        (":2181", "host"),
        ("[::1", "]"),
        ("[::1]x", "after"),
        ("[::1]:", "port"),
        ("[nothex::]:2181", "IPv6"),
        ("::1:2181:zz", "brackets"),
        ("h 1", "host"),
        ("h1:2181//a", "empty path segment"),
        ("h1/a//b", "empty path segment"),
        ("h1/a/./b", "relative"),
        ("h1/a/..", "relative"),
        ("h1/a\x00b", "control"),
        ("h1/a\nb", "control"),
        ("h1/a\ue000", "not allowed"),
        ("h1/a\ufff5", "not allowed"),
    ],
)
def test_parse_connect_string_rejects_garbage(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_connect_string(text)


def test_parse_connect_string_type_error() -> None:
    with pytest.raises(TypeError):
        parse_connect_string(None)  # type: ignore[arg-type]


def test_parse_host_default_port() -> None:
    assert parse_host("zk", default_port=1234) == ("zk", 1234)
    assert parse_host("[::1]", default_port=1234) == ("::1", 1234)
    assert DEFAULT_PORT == 2181


def test_format_servers() -> None:
    assert format_servers(["zk1", "zk2:2182", "::1", "[::1]:3000", "127.0.0.1"]) == [
        "zk1:2181",
        "zk2:2182",
        "[::1]:2181",
        "[::1]:3000",
        "127.0.0.1:2181",
    ]
    assert format_servers(iter(())) == []
    with pytest.raises(ValueError):
        format_servers(["zk1:notaport"])


def test_format_address_round_trips() -> None:
    for address in [("127.0.0.1", 2181), ("::1", 2182), ("zk", 1)]:
        assert parse_host(format_address(address)) == address


# ---------------------------------------------------------------------------
# StaticHostProvider
# ---------------------------------------------------------------------------

A, B, C = ("a", 1), ("b", 2), ("c", 3)


def take(provider: HostProvider, n: int) -> list[tuple[tuple[str, int], bool]]:
    return [provider.next() for _ in range(n)]


def test_static_round_robin_retry_start() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, B, C])
    assert len(p) == 3
    # First round: every address once, no retry_start; then the wrap says so.
    assert take(p, 7) == [
        (A, False),
        (B, False),
        (C, False),
        (A, True),
        (B, False),
        (C, False),
        (A, True),
    ]


def test_static_single_server() -> None:
    p = StaticHostProvider()
    p.init([A])
    assert take(p, 3) == [(A, False), (A, True), (A, True)]


def test_connected_resets_round() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, B, C])
    assert take(p, 2) == [(A, False), (B, False)]
    p.connected()  # B worked; later it drops.
    # A full round after B: C, A, then B again as the start of a new round.
    assert take(p, 4) == [(C, False), (A, False), (B, True), (C, False)]


def test_connected_in_middle_of_a_failed_round() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, B])
    assert take(p, 3) == [(A, False), (B, False), (A, True)]
    p.connected()
    assert take(p, 2) == [(B, False), (A, True)]


def test_static_shuffles_and_covers_everything() -> None:
    servers = [(f"h{i}", 2181) for i in range(20)]
    p = StaticHostProvider(rng=random.Random(7))
    p.init(servers)
    first_round = [addr for addr, retry in take(p, 20)]
    assert sorted(first_round) == sorted(servers)
    assert first_round != servers  # shuffled (fixed seed)
    addr, retry = p.next()
    assert retry and addr == first_round[0]  # static: same order every round


def test_static_deduplicates() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, A, B])
    assert len(p) == 2


def test_provider_requires_servers_and_init() -> None:
    p = StaticHostProvider()
    with pytest.raises(RuntimeError):
        p.next()
    with pytest.raises(ValueError):
        p.init([])


def test_init_resets() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, B])
    take(p, 3)
    p.init([C, A])
    assert take(p, 3) == [(C, False), (A, False), (C, True)]


def test_providers_satisfy_protocol() -> None:
    assert isinstance(StaticHostProvider(), HostProvider)
    assert isinstance(DNSHostProvider(), HostProvider)


def test_next_is_thread_safe() -> None:
    p = StaticHostProvider(shuffle=False)
    p.init([A, B, C, ("d", 4)])
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(1000):
            addr, _ = p.next()
            with lock:
                seen.append(addr)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4000
    # Round robin under contention: every address exactly a quarter of the time.
    assert {seen.count(x) for x in (A, B, C, ("d", 4))} == {1000}


# ---------------------------------------------------------------------------
# DNSHostProvider
# ---------------------------------------------------------------------------


class FakeResolver:
    """Maps names to address lists; counts lookups; raises for unknown names."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[tuple[str, int]]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(ip, port) for ip in self.table[host]]


def test_dns_resolves_all_addresses() -> None:
    r = FakeResolver({"zk1": ["127.0.0.1", "127.0.0.2"], "zk2": ["127.0.0.3"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("zk1", 2181), ("zk2", 2182)])
    assert len(p) == 3
    assert take(p, 4) == [
        (("127.0.0.1", 2181), False),
        (("127.0.0.2", 2181), False),
        (("127.0.0.3", 2182), False),
        (("127.0.0.1", 2181), True),
    ]
    assert p.origin(("127.0.0.2", 2181)) == "zk1"
    assert p.origin(("127.0.0.3", 2182)) == "zk2"


def test_dns_re_resolves_on_each_full_round() -> None:
    r = FakeResolver({"zk": ["127.0.0.1", "127.0.0.2"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("zk", 2181)])
    assert r.calls == ["zk"]
    take(p, 2)
    assert r.calls == ["zk"]  # no lookup within a round
    r.table["zk"] = ["127.0.0.9"]  # the server moved
    assert p.next() == (("127.0.0.9", 2181), True)
    assert r.calls == ["zk", "zk"]
    assert len(p) == 1
    assert p.next() == (("127.0.0.9", 2181), True)
    assert r.calls == ["zk", "zk", "zk"]


def test_dns_no_re_resolve_after_connected_until_round_fails() -> None:
    r = FakeResolver({"zk": ["127.0.0.1", "127.0.0.2"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("zk", 2181)])
    p.next()
    p.connected()
    assert p.next() == (("127.0.0.2", 2181), False)
    assert len(r.calls) == 1
    addr, retry = p.next()
    assert retry and len(r.calls) == 2


def test_dns_one_bad_name_does_not_kill_others() -> None:
    r = FakeResolver({"good": ["127.0.0.1"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("bad.invalid", 2181), ("good", 2181)])
    assert p.addresses == [("127.0.0.1", 2181)]
    assert list(p.resolve_errors) == [("bad.invalid", 2181)]
    # The bad name comes back once it resolves (next round).
    r.table["bad.invalid"] = ["127.0.0.5"]
    p.next()
    addr, retry = p.next()
    assert retry
    assert sorted(p.addresses) == [("127.0.0.1", 2181), ("127.0.0.5", 2181)]
    assert p.resolve_errors == {}


def test_dns_nothing_resolves_returns_names() -> None:
    r = FakeResolver({})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("nope1.invalid", 2181), ("nope2.invalid", 2182)])
    assert take(p, 3) == [
        (("nope1.invalid", 2181), False),
        (("nope2.invalid", 2182), False),
        (("nope1.invalid", 2181), True),
    ]
    assert len(p.resolve_errors) == 2
    # ...and the connect attempt then fails with the real resolver error.
    with pytest.raises(OSError):
        socket.create_connection(p.next()[0], timeout=2)


def test_dns_empty_resolution_counts_as_failure() -> None:
    r = FakeResolver({"empty": [], "good": ["127.0.0.1"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("empty", 2181), ("good", 2181)])
    assert p.addresses == [("127.0.0.1", 2181)]
    assert ("empty", 2181) in p.resolve_errors


def test_dns_dedupes_addresses_across_names() -> None:
    r = FakeResolver({"a": ["127.0.0.1"], "b": ["127.0.0.1", "127.0.0.2"]})
    p = DNSHostProvider(resolver=r, shuffle=False)
    p.init([("a", 2181), ("b", 2181)])
    assert p.addresses == [("127.0.0.1", 2181), ("127.0.0.2", 2181)]


def test_dns_ip_literals_pass_through() -> None:
    p = DNSHostProvider(shuffle=False)
    p.init([("127.0.0.1", 2181), ("::1", 2182)])
    assert p.addresses == [("127.0.0.1", 2181), ("::1", 2182)]
    assert p.resolve_errors == {}


def test_dns_localhost_real_resolution_and_re_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    p = DNSHostProvider()
    p.init([("localhost", 2181)])
    assert calls == ["localhost"]
    n = len(p)
    assert n >= 1
    expected = {("127.0.0.1", 2181), ("::1", 2181)}
    assert set(p.addresses) <= expected
    assert all(p.origin(a) == "localhost" for a in p.addresses)
    round_ = take(p, n)
    assert not any(retry for _, retry in round_)
    assert calls == ["localhost"]
    addr, retry = p.next()
    assert retry and addr in expected
    assert calls == ["localhost", "localhost"]


def test_dns_unresolvable_real_name_falls_back() -> None:
    # ".invalid" is reserved (RFC 6761): it never resolves.
    p = DNSHostProvider()
    p.init([("zkfast-test.invalid", 2181), ("127.0.0.1", 2181)])
    assert p.addresses == [("127.0.0.1", 2181)]
    assert ("zkfast-test.invalid", 2181) in p.resolve_errors


# ---------------------------------------------------------------------------
# reconnect_delay
# ---------------------------------------------------------------------------


def test_reconnect_delay_without_jitter_doubles_to_cap() -> None:
    delays = [reconnect_delay(i, jitter=0) for i in range(8)]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert reconnect_delay(10_000, jitter=0) == 1.0
    assert reconnect_delay(-3, jitter=0) == 0.05


def test_reconnect_delay_jitter_bounds() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        ceiling = min(1.0, 0.05 * 2**attempt)
        values = [reconnect_delay(attempt, rng=rng) for _ in range(200)]
        assert all(ceiling * 0.5 <= v <= ceiling for v in values)
        assert len(set(values)) > 1  # actually jittered


def test_reconnect_delay_custom_and_alias() -> None:
    assert reconnect_delay(3, base=1, cap=5, jitter=0) == 5
    assert backoff is reconnect_delay
