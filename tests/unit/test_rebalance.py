"""Rebalancing when the server list changes (``zkfast.hosts.rebalance``, the
reference client's rule of ZOOKEEPER-1355), the providers' ``update_server_list``,
and ``PreferredHostProvider``.

The distributions are checked over many draws of a seeded generator: the bounds
are a few standard deviations wide, so they hold for any seed, and a rule that
moved the wrong share of clients (or none, or all) lands far outside them.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from zkfast import hosts
from zkfast.hosts import (
    Address,
    DNSHostProvider,
    HostProvider,
    PreferredHostProvider,
    StaticHostProvider,
    rebalance,
)

TRIALS = 20_000


def servers(*ids: int) -> list[Address]:
    return [(f"zk{i}", 2181) for i in ids]


def _share(count: int, total: int = TRIALS) -> float:
    return count / total


def _close(observed: float, expected: float, total: int = TRIALS) -> bool:
    """Within five standard deviations of a binomial share (and 1 % absolute)."""
    sd = (expected * (1 - expected) / total) ** 0.5
    return abs(observed - expected) <= max(5 * sd, 0.01)


# ---------------------------------------------------------------------------
# the three cases, one client at a time
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_old, n_new", [(3, 5), (3, 4), (1, 3), (5, 7)])
def test_growing_moves_a_kept_servers_client_with_probability_1_minus_old_over_new(
        n_old: int, n_new: int) -> None:
    rng = random.Random(n_old * 100 + n_new)
    old, new = servers(*range(1, n_old + 1)), servers(*range(1, n_new + 1))
    added = new[n_old:]
    moves = Counter(rebalance(old, new, old[0], rng) for _ in range(TRIALS))
    stay = moves.pop(None, 0)
    assert set(moves) <= set(added)  # only ever to an added server
    assert _close(_share(TRIALS - stay), 1 - n_old / n_new)
    for a in added:  # uniformly over the added ones
        assert _close(_share(moves[a]), (1 - n_old / n_new) / len(added))


def test_a_client_of_a_removed_server_always_moves() -> None:
    rng = random.Random(1)
    # grows (3 -> 4, one replaced and two added): always to an added server, uniformly
    old, new = servers(1, 2, 3), servers(1, 2, 4, 5)
    moves = Counter(rebalance(old, new, ("zk3", 2181), rng) for _ in range(TRIALS))
    assert None not in moves and set(moves) == {("zk4", 2181), ("zk5", 2181)}
    assert _close(_share(moves[("zk4", 2181)]), 0.5)

    # shrinks (5 -> 3, nothing added): always to a kept server, uniformly
    old, new = servers(1, 2, 3, 4, 5), servers(1, 2, 3)
    moves = Counter(rebalance(old, new, ("zk5", 2181), rng) for _ in range(TRIALS))
    assert None not in moves and set(moves) == set(new)
    for a in new:
        assert _close(_share(moves[a]), 1 / 3)

    # same size, one replaced (3 -> 3): A*O/(N*R) = 1*3/(3*1) = 1: to the new one
    old, new = servers(1, 2, 3), servers(1, 2, 4)
    assert {rebalance(old, new, ("zk3", 2181), rng) for _ in range(200)} == {("zk4", 2181)}

    # shrinks with one replaced (4 -> 3: zk3, zk4 go, zk5 comes): to zk5 with
    # A*O/(N*R) = 1*4/(3*2) = 2/3, else to a kept server
    old, new = servers(1, 2, 3, 4), servers(1, 2, 5)
    moves = Counter(rebalance(old, new, ("zk4", 2181), rng) for _ in range(TRIALS))
    assert None not in moves
    assert _close(_share(moves[("zk5", 2181)]), 2 / 3)
    assert _close(_share(moves[("zk1", 2181)]), 1 / 6)


def test_not_growing_a_kept_servers_client_stays() -> None:
    rng = random.Random(2)
    for old, new in [(servers(1, 2, 3, 4, 5), servers(1, 2, 3)),
                     (servers(1, 2, 3), servers(1, 2, 3)),
                     (servers(1, 2, 3, 4), servers(1, 2, 5))]:
        assert {rebalance(old, new, old[0], rng) for _ in range(500)} == {None}


def test_nothing_to_do_without_a_current_server_or_lists() -> None:
    assert rebalance(servers(1), servers(1, 2), None) is None
    assert rebalance([], servers(1, 2), ("zk1", 2181)) is None
    assert rebalance(servers(1), [], ("zk1", 2181)) is None


# ---------------------------------------------------------------------------
# a population: the load ends up even, and few clients move
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("old_ids, new_ids", [
    ((1, 2, 3), (1, 2, 3, 4, 5)),        # grow 3 -> 5
    ((1, 2, 3, 4, 5), (1, 2, 3)),        # shrink 5 -> 3
    ((1, 2, 3), (2, 3, 4, 5)),           # one replaced, one added
    ((1, 2, 3, 4), (1, 5, 6)),           # shrink with replacements
])
def test_a_population_ends_up_even_and_moves_as_few_as_needed(old_ids: tuple[int, ...],
                                                              new_ids: tuple[int, ...]) -> None:
    rng = random.Random(hash(old_ids + new_ids) & 0xFFFF)
    old, new = servers(*old_ids), servers(*new_ids)
    per_server = 600
    clients = [a for a in old for _ in range(per_server)]
    placed = [rebalance(old, new, a, rng) or a for a in clients]
    load = Counter(placed)
    total = len(clients)
    assert set(load) <= set(new)  # nobody left on a removed server
    for a in new:  # even within a few standard deviations of total/N
        mean = total / len(new)
        assert abs(load[a] - mean) <= 5 * mean ** 0.5, (a, load)
    # the fewest moves that even the load: clients of removed servers, plus
    # what the kept servers must shed (1/O - 1/N each when growing)
    kept = [a for a in new if a in old]
    needed = sum(per_server for a in old if a not in new)
    needed += sum(max(0.0, per_server - total / len(new)) for _ in kept)
    moved = sum(1 for before, after in zip(clients, placed) if before != after)
    assert abs(moved - needed) <= 5 * needed ** 0.5 + 1, (moved, needed)


# ---------------------------------------------------------------------------
# the providers' update_server_list
# ---------------------------------------------------------------------------


def test_update_server_list_takes_the_new_list_and_says_where_to_go() -> None:
    p = StaticHostProvider(shuffle=False, rng=random.Random(3))
    p.init(servers(1, 2, 3))
    assert p.next() == (("zk1", 2181), False)
    p.connected()
    targets = Counter()
    for _ in range(2000):
        p.init(servers(1, 2, 3))
        targets[p.update_server_list(servers(1, 2, 3, 4, 5), ("zk1", 2181))] += 1
    assert set(targets) == {None, ("zk4", 2181), ("zk5", 2181)}
    assert _close(_share(targets[None], 2000), 3 / 5, 2000)
    assert sorted(p.addresses) == servers(1, 2, 3, 4, 5)
    # a removed current server: it must move, and the rotation continues from there
    target = p.update_server_list(servers(1, 2), ("zk5", 2181))
    assert target in servers(1, 2)
    assert sorted(p.addresses) == servers(1, 2)
    nxt, retry = p.next()
    assert nxt != target and not retry
    with pytest.raises(ValueError):
        p.update_server_list([], None)


def test_update_server_list_while_disconnected_does_not_move() -> None:
    p = StaticHostProvider(rng=random.Random(4))
    p.init(servers(1, 2, 3))
    assert p.update_server_list(servers(4, 5), None) is None
    assert sorted(p.addresses) == servers(4, 5)
    assert {p.next()[0] for _ in range(2)} == set(servers(4, 5))


def test_dns_provider_rebalances_over_resolved_addresses() -> None:
    table = {"zk1": "127.0.0.1", "zk2": "127.0.0.2", "zk3": "127.0.0.3"}
    p = DNSHostProvider(resolver=lambda h, port: [(table[h], port)], rng=random.Random(5))
    p.init(servers(1, 2))
    here = p.next()[0]
    assert here[0].startswith("127.0.0.")
    p.connected()
    gone = "zk1" if here == ("127.0.0.1", 2181) else "zk2"
    stay = "zk2" if gone == "zk1" else "zk1"
    target = p.update_server_list([(stay, 2181), ("zk3", 2181)], here)
    assert target in {(table[stay], 2181), ("127.0.0.3", 2181)}
    assert p.origin(("127.0.0.3", 2181)) == "zk3"


# ---------------------------------------------------------------------------
# PreferredHostProvider
# ---------------------------------------------------------------------------


def _identity(host: str, port: int) -> list[Address]:
    return [(host, port)]


def test_preferred_servers_come_first_then_the_rest() -> None:
    p = PreferredHostProvider(["zk4", "zk5:2181"], resolver=_identity, rng=random.Random(6))
    p.init(servers(1, 2, 3, 4, 5))
    assert isinstance(p, HostProvider)
    first_round = [p.next() for _ in range(5)]
    assert {a for a, _ in first_round[:2]} == set(servers(4, 5))  # shuffled among themselves
    assert {a for a, _ in first_round[2:]} == set(servers(1, 2, 3))
    assert not any(retry for _, retry in first_round)
    again, retry = p.next()  # the whole round failed: back off, preferred first again
    assert retry and again in servers(4, 5)


def test_after_connecting_elsewhere_a_reconnect_tries_the_preferred_first() -> None:
    p = PreferredHostProvider(["zk3"], resolver=_identity, shuffle=False)
    p.init(servers(1, 2, 3))
    assert [p.next()[0] for _ in range(2)] == servers(3, 1)  # zk3 is down: zk1 works
    p.connected()
    assert p.next() == (("zk3", 2181), False)  # the connection to zk1 dropped
    p.connected()  # now on the preferred one: a drop moves along the rotation
    assert p.next()[0] == ("zk1", 2181)


def test_preferred_names_match_through_dns() -> None:
    table = {"local": ["127.0.0.7", "127.0.0.8"], "far": ["127.0.0.9"]}
    p = PreferredHostProvider(["local"], resolver=lambda h, port: [(ip, port) for ip in table[h]],
                              rng=random.Random(8))
    p.init([("far", 2181), ("local", 2181)])
    order = [p.next()[0] for _ in range(3)]
    assert set(order[:2]) == {("127.0.0.7", 2181), ("127.0.0.8", 2181)}
    assert order[2] == ("127.0.0.9", 2181)


def test_preferred_provider_keeps_its_preference_across_a_new_server_list() -> None:
    p = PreferredHostProvider(["zk4"], resolver=_identity, rng=random.Random(9))
    p.init(servers(1, 2, 3))
    p.update_server_list(servers(1, 2, 3, 4), None)
    assert p.addresses[0] == ("zk4", 2181)


def test_rebalancing_never_moves_a_client_off_its_preferred_servers() -> None:
    """The ensemble grows by servers the client does not prefer: a client on a
    preferred server stays among the preferred ones (rebalancing happens within
    that group), instead of moving away with probability 1 - old/new."""
    rng = random.Random(10)
    moves = Counter()
    for _ in range(2000):
        p = PreferredHostProvider(["zk1", "zk2"], resolver=_identity, rng=rng)
        p.init(servers(1, 2, 3))
        moves[p.update_server_list(servers(1, 2, 3, 4, 5), ("zk1", 2181))] += 1
    assert set(moves) == {None}
    # ... and a preferred server that is added takes its share of the preferred clients
    moves.clear()
    for _ in range(TRIALS):
        p = PreferredHostProvider(["zk1", "zk2", "zk6"], resolver=_identity, rng=rng)
        p.init(servers(1, 2, 3))
        moves[p.update_server_list(servers(1, 2, 3, 6), ("zk1", 2181))] += 1
    assert set(moves) == {None, ("zk6", 2181)}
    assert _close(_share(moves[("zk6", 2181)]), 1 - 2 / 3)


def test_a_client_on_a_fallback_server_moves_to_an_added_preferred_one() -> None:
    rng = random.Random(11)
    p = PreferredHostProvider(["zk4"], resolver=_identity, rng=rng)
    p.init(servers(1, 2, 3))
    assert p.update_server_list(servers(1, 2, 3, 4), ("zk2", 2181)) == ("zk4", 2181)
    # without a preferred server among the new ones, the rest rebalance as usual
    p = PreferredHostProvider(["zk9"], resolver=_identity, rng=rng)
    p.init(servers(1, 2, 3))
    moved = Counter(p.update_server_list(servers(1, 2, 3), ("zk2", 2181)) for _ in range(10))
    assert moved == Counter({None: 10})
    p.init(servers(1, 2, 3))
    assert p.update_server_list(servers(1, 2), ("zk3", 2181)) in servers(1, 2)


def test_after_a_move_the_rotation_tries_the_targets_kind_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A just-added server may refuse for a moment: the client then tries the
    other added servers, and for MOVE_RETRY_SECONDS those again after each
    failed pass (backing off), before falling back to the old ones."""
    now = [100.0]
    monkeypatch.setattr(hosts, "_monotonic", lambda: now[0])
    for seed in range(200):
        p = StaticHostProvider(rng=random.Random(seed))
        p.init(servers(1, 2, 3))
        target = p.update_server_list(servers(1, 2, 3, 4, 5, 6), ("zk1", 2181))
        if target is not None:
            break
    else:
        raise AssertionError("no seed moved the client")
    added = set(servers(4, 5, 6))
    # the session connects to the target itself; then, if that failed:
    first_pass = [p.next() for _ in range(2)]
    assert {a for a, _ in first_pass} == added - {target} and not any(r for _, r in first_pass)
    assert p.next() == (target, True)  # the kind failed: back off, then again
    assert {p.next()[0] for _ in range(2)} == added - {target}
    now[0] += hosts.MOVE_RETRY_SECONDS  # the move is not fresh any more
    rest = [p.next() for _ in range(3)]
    assert {a for a, _ in rest} == set(servers(1, 2, 3)) and not any(r for _, r in rest)
    assert p.next() == (target, True)  # a whole round failed: back off
    assert p.next()[0] in added
    # connecting ends the focus: a later drop walks the whole rotation
    p.update_server_list(servers(1, 2, 3, 4, 5, 6, 7), target)
    p.connected()
    assert len({p.next()[0] for _ in range(7)}) == 7

    # a client of a removed server moving to a kept one tries the kept ones first
    for seed in range(50):
        p = StaticHostProvider(rng=random.Random(seed))
        p.init(servers(1, 2, 3, 4))
        target = p.update_server_list(servers(1, 2, 5), ("zk4", 2181))
        if target in servers(1, 2):
            assert p.next()[0] in set(servers(1, 2)) - {target}
            assert p.next() == (target, True)
            return
    raise AssertionError("no seed moved the client to a kept server")


def test_move_retry_sets_how_long_a_move_insists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts, "_monotonic", lambda: 0.0)  # the clock stands still
    for move_retry, insists in ((0.0, False), (5.0, True)):
        p = StaticHostProvider(rng=random.Random(3), move_retry=move_retry)
        p.init(servers(1, 2))
        target = p.update_server_list(servers(2, 3, 4), ("zk1", 2181))  # zk1 removed: grows
        assert target in servers(3, 4)
        other = (set(servers(3, 4)) - {target}).pop()
        assert p.next() == (other, False)
        # the added ones failed: again after a backoff, or on to the kept one
        assert p.next() == ((target, True) if insists else (("zk2", 2181), False))
