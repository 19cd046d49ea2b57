"""TreeCache against a real server: load, concurrent changes, disconnects, session expiry."""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

import zkfast
from zkfast import Create, NodeExistsError, NoNodeError, NotEmptyError, State
from zkfast.recipe import TreeCache, TreeEvent, TreeEventType, delete_tree, get_tree
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until, expire


def _server_view(zk: zkfast.Client, root: str) -> Dict[str, Tuple[bytes, int]]:
    return {p: (nd.data, nd.stat.mzxid) for p, nd in get_tree(zk, root).items()}


def _cache_view(cache: TreeCache) -> Dict[str, Tuple[bytes, int]]:
    return {p: (nd.data, nd.stat.mzxid) for p, nd in cache.snapshot().items()}


def _converged(zk: zkfast.Client, cache: TreeCache, root: str) -> bool:
    server = _server_view(zk, root)
    if _cache_view(cache) != server:
        return False
    for p in server:  # children sets agree too
        kids = {k.rsplit("/", 1)[1] for k in server if k.rsplit("/", 1)[0] == p and k != p}
        if cache.get_children(p) != kids:
            return False
    return True


def _build(zk: zkfast.Client, root: str, fanout: int, depth: int) -> int:
    zk.create(root, b"root", makepath=True)
    level, count = [root], 1
    for _ in range(depth):
        nxt, ops = [], []
        for p in level:
            for i in range(fanout):
                c = f"{p}/n{i}"
                nxt.append(c)
                ops.append(Create(c, b"v0"))
        for i in range(0, len(ops), 1000):
            zk.multi(*ops[i:i + 1000])
        count += len(nxt)
        level = nxt
    return count


def test_load_and_listener_events(zk: zkfast.Client) -> None:
    n = _build(zk, "/app", 10, 2)
    events: List[TreeEvent] = []
    cache = TreeCache(zk, "/app")
    cache.add_listener(events.append)
    cache.start()
    assert cache.wait_initialized(20)
    assert len(cache) == n and _converged(zk, cache, "/app")
    added = [e for e in events if e.type == TreeEventType.NODE_ADDED]
    assert len(added) == n and events[-1].type == TreeEventType.INITIALIZED
    assert cache.get_data("/app/n1/n2").data == b"v0"
    assert cache.get_children("/app/n1") == frozenset(f"n{i}" for i in range(10))
    assert cache.get_children("/nope") is None and cache.get_data("/nope") is None
    events.clear()
    zk.set("/app/n1/n2", b"v1")
    zk.create("/app/n1/new", b"x")
    zk.delete("/app/n2", recursive=True)
    wait_until(lambda: _converged(zk, cache, "/app"))
    kinds = [(e.type, e.path) for e in events]
    assert (TreeEventType.NODE_UPDATED, "/app/n1/n2") in kinds
    assert (TreeEventType.NODE_ADDED, "/app/n1/new") in kinds
    removed = {p for t, p in kinds if t == TreeEventType.NODE_REMOVED}
    assert removed == {"/app/n2"} | {f"/app/n2/n{i}" for i in range(10)}
    assert cache.sync_passes == 1  # events, not reloads
    cache.close()
    zk.set("/app/n1/n2", b"after-close")
    zk.sync("/app")
    assert cache.get_data("/app/n1/n2").data == b"v1"


def test_root_created_later_and_deleted(zk: zkfast.Client) -> None:
    cache = TreeCache(zk, "/later").start()
    assert cache.wait_initialized(10) and len(cache) == 0
    zk.create("/later", b"r")
    zk.create("/later/a", b"a")
    wait_until(lambda: _converged(zk, cache, "/later") and len(cache) == 2)
    zk.delete("/later", recursive=True)
    wait_until(lambda: len(cache) == 0)
    cache.close()


def _churn(zk: zkfast.Client, root: str, seed: int, ops: int) -> None:
    rnd = random.Random(seed)
    for _ in range(ops):
        p = f"{root}/n{rnd.randrange(6)}"
        if rnd.random() < 0.5:
            p += f"/n{rnd.randrange(6)}"
        r = rnd.random()
        try:
            if r < 0.4:
                zk.create(p, b"%d" % rnd.randrange(1000))
            elif r < 0.75:
                zk.set(p, b"%d" % rnd.randrange(1000))
            else:
                zk.delete(p)
        except (NoNodeError, NodeExistsError, NotEmptyError):
            pass


def test_converges_after_random_concurrent_changes(zk: zkfast.Client, make_client) -> None:
    _build(zk, "/r", 6, 1)
    cache = TreeCache(make_client(), "/r").start()
    writers = [make_client() for _ in range(3)]
    threads = [threading.Thread(target=_churn, args=(w, "/r", i, 300)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    assert cache.wait_initialized(20)  # loading while the tree changes
    for t in threads:
        t.join(60)
    wait_until(lambda: _converged(zk, cache, "/r"), timeout=20)
    cache.close()


def test_converges_after_disconnect_with_changes_meanwhile(zk_proxy: TcpProxy, make_client) -> None:
    admin = make_client()
    _build(admin, "/d", 20, 2)
    c = make_client(hosts=zk_proxy.hosts)
    events: List[TreeEvent] = []
    cache = TreeCache(c, "/d", large_node=100)
    cache.start()
    assert cache.wait_initialized(20)
    admin.set("/d/n0", b"x" * 500)  # a "large" node: resynced by exists first
    wait_until(lambda: _converged(admin, cache, "/d"))
    cache.add_listener(events.append)
    zk_proxy.refuse(True)
    zk_proxy.drop_all()
    wait_until(lambda: c.state == State.SUSPENDED)
    # changes the persistent watch will never report (the server doesn't replay them)
    admin.set("/d/n1/n1", b"changed")
    admin.set("/d/n0", b"y" * 500)
    admin.create("/d/n2/added", b"new")
    admin.delete("/d/n3", recursive=True)
    admin.delete("/d/n4/n4")
    zk_proxy.refuse(False)
    wait_until(lambda: _converged(admin, cache, "/d"))
    assert cache.sync_passes == 2
    changes = [(e.type, e.path) for e in events
               if e.type in (TreeEventType.NODE_ADDED, TreeEventType.NODE_UPDATED,
                             TreeEventType.NODE_REMOVED)]
    # only the differences are reported
    assert sorted(changes, key=str) == sorted(
        [(TreeEventType.NODE_UPDATED, "/d/n1/n1"), (TreeEventType.NODE_UPDATED, "/d/n0"),
         (TreeEventType.NODE_ADDED, "/d/n2/added"), (TreeEventType.NODE_REMOVED, "/d/n4/n4"),
         (TreeEventType.NODE_REMOVED, "/d/n3")]
        + [(TreeEventType.NODE_REMOVED, f"/d/n3/n{i}") for i in range(20)], key=str)
    assert TreeEventType.CONNECTION_SUSPENDED in [e.type for e in events]
    assert TreeEventType.CONNECTION_RECONNECTED in [e.type for e in events]
    admin.set("/d/n1/n1", b"live again")  # the watch still works
    wait_until(lambda: cache.get_data("/d/n1/n1").data == b"live again")
    cache.close()


def test_converges_after_session_expiry(zk_server: ZooKeeperServer, make_client) -> None:
    admin = make_client()
    _build(admin, "/e", 10, 2)
    c = make_client()
    cache = TreeCache(c, "/e").start()
    assert cache.wait_initialized(20)
    events: List[TreeEvent] = []
    cache.add_listener(events.append)
    expire(zk_server.hosts, c)
    admin.set("/e/n1", b"while expired")
    admin.delete("/e/n2", recursive=True)
    admin.create("/e/n3/fresh", b"f")
    wait_until(lambda: c.connected and _converged(admin, cache, "/e"))
    assert TreeEventType.CONNECTION_LOST in [e.type for e in events]
    admin.create("/e/after", b"a")  # the recursive watch was added again in the new session
    admin.set("/e/n4/n4", b"z")
    wait_until(lambda: _converged(admin, cache, "/e") and "/e/after" in cache)
    cache.close()


@pytest.mark.parametrize("n_nodes", [8000])
def test_loads_thousands_of_nodes(zk: zkfast.Client, n_nodes: int) -> None:
    # 1 + 40 + 40*199 = 8001 nodes
    n = _build_wide(zk, "/big", 40, n_nodes // 40 - 1)
    t = time.perf_counter()
    cache = TreeCache(zk, "/big").start()
    assert cache.wait_initialized(60)
    dt = time.perf_counter() - t
    assert len(cache) == n
    print(f"\nTreeCache initial load: {n} nodes in {dt:.3f}s")
    # a resync of an unchanged tree reports nothing
    seen: List[TreeEvent] = []
    cache.add_listener(seen.append)
    t = time.perf_counter()
    cache._dirty = True
    cache._syncing = True
    cache._kick()
    wait_until(lambda: cache.sync_passes == 2 and not cache._syncing)
    print(f"TreeCache resync (no changes): {n} nodes in {time.perf_counter() - t:.3f}s")
    assert seen == []
    cache.close()
    delete_tree(zk, "/big")  # faster than the fixture's node-by-node cleanup


def _build_wide(zk: zkfast.Client, root: str, parents: int, per_parent: int) -> int:
    zk.create(root)
    ops: List[Any] = []
    for i in range(parents):
        ops.append(Create(f"{root}/p{i}", b"parent"))
        ops.extend(Create(f"{root}/p{i}/c{j}", b"child-%d" % j) for j in range(per_parent))
    for i in range(0, len(ops), 1000):
        zk.multi(*ops[i:i + 1000])
    return 1 + len(ops)


def test_filters_choose_what_is_cached(zk: zkfast.Client) -> None:
    """max_depth, accept_child and traverse_children (Curator's TreeCacheSelector):
    what they leave out is neither read nor cached, at load time or from events."""
    _build(zk, "/app", 3, 2)  # /app/n{0,1,2}/n{0,1,2}
    skipped = "/app/n1"        # not accepted: it and its subtree stay out
    shallow = "/app/n2"        # accepted, but its children are not traversed
    events: List[TreeEvent] = []
    cache = TreeCache(zk, "/app", accept_child=lambda p: p != skipped,
                      traverse_children=lambda p: p != shallow)
    cache.add_listener(events.append)
    cache.start()
    assert cache.wait_initialized(20)
    expected = {"/app", "/app/n0", "/app/n2"} | {f"/app/n0/n{i}" for i in range(3)}
    assert set(cache.snapshot()) == expected
    assert cache.get_children("/app") == frozenset({"n0", "n2"})
    assert cache.get_children(shallow) == frozenset()
    assert cache.last_sync_reads < len(expected) + 6  # the rest was not even read

    depth1 = TreeCache(zk, "/app", max_depth=1).start()
    assert depth1.wait_initialized(20)
    assert set(depth1.snapshot()) == {"/app"} | {f"/app/n{i}" for i in range(3)}

    events.clear()
    zk.create("/app/n1/new", b"x")        # below a node not accepted
    zk.create("/app/n2/new", b"x")        # below a node not traversed
    zk.create("/app/n0/n0/deep", b"x")    # accepted everywhere (no depth limit here)
    zk.create("/app/n3", b"x")            # a new accepted child of the root
    zk.set("/app/n1", b"changed")
    wait_until(lambda: "/app/n3" in cache and "/app/n0/n0/deep" in cache
               and "/app/n3" in depth1)
    assert [e.path for e in events] == ["/app/n0/n0/deep", "/app/n3"]
    assert "/app/n1/new" not in cache and "/app/n2/new" not in cache and "/app/n1" not in cache
    assert "/app/n0/n0/deep" not in depth1 and "/app/n1/new" not in depth1
    cache.close()
    depth1.close()
    with pytest.raises(ValueError):
        TreeCache(zk, "/app", max_depth=-1)
    with pytest.raises(TypeError):
        TreeCache(zk, "/app", accept_child="/app/n1")  # type: ignore[arg-type]
