"""DataWatch / ChildrenWatch and the bulk helpers against a real server."""

from __future__ import annotations

import time
from typing import Any, List

import zkfast
from zkfast import Create, EventType
from zkfast.recipe import ChildrenWatch, DataWatch, delete_tree, get_tree, walk
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until, expire


def test_data_watch_follows_a_node(zk: zkfast.Client, make_client) -> None:
    other = make_client()
    seen: List[Any] = []

    @DataWatch(zk, "/cfg")
    def changed(data: Any, stat: Any) -> None:
        seen.append(data)

    assert seen == [None]  # called at once, in the caller, for the missing node
    other.create("/cfg", b"v1")
    wait_until(lambda: seen[-1:] == [b"v1"])
    other.set("/cfg", b"v2")
    wait_until(lambda: seen[-1:] == [b"v2"])
    other.delete("/cfg")
    wait_until(lambda: seen[-1:] == [None])
    other.create("/cfg", b"v3")
    wait_until(lambda: seen[-1:] == [b"v3"])
    assert seen == [None, b"v1", b"v2", None, b"v3"]  # each state once


def test_data_watch_event_argument_false_and_stop(zk: zkfast.Client) -> None:
    zk.create("/n", b"0")
    events: List[Any] = []

    def three(data: Any, stat: Any, event: Any) -> Any:
        events.append((data, event.type if event else None))
        return data != b"stop"

    w = DataWatch(zk, "/n", three)
    zk.set("/n", b"1")
    wait_until(lambda: len(events) == 2)
    assert events[1] == (b"1", EventType.NODE_DATA_CHANGED)
    zk.set("/n", b"stop")
    wait_until(lambda: w.stopped)
    zk.set("/n", b"after")
    other: List[Any] = []
    w2 = DataWatch(zk, "/n", lambda d, s: other.append(d))
    w2.stop()
    zk.set("/n", b"again")
    zk.sync("/n")
    assert [e[0] for e in events] == [b"0", b"1", b"stop"] and other == [b"after"]


def test_data_watch_survives_reconnect_and_expiry(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                                  make_client) -> None:
    c = make_client(hosts=zk_proxy.hosts)
    writer = make_client()
    writer.create("/n", b"0")
    seen: List[Any] = []
    DataWatch(c, "/n", lambda d, s: seen.append(d))
    zk_proxy.refuse(True)
    zk_proxy.drop_all()
    writer.set("/n", b"during-outage")
    zk_proxy.refuse(False)
    wait_until(lambda: seen[-1:] == [b"during-outage"])  # replayed by SetWatches
    expire(zk_server.hosts, c)
    writer.set("/n", b"after-expiry")
    wait_until(lambda: seen[-1:] == [b"after-expiry"])
    writer.set("/n", b"new-session")  # the watch lives on in the new session
    wait_until(lambda: seen[-1:] == [b"new-session"])


def test_children_watch(zk: zkfast.Client, make_client) -> None:
    other = make_client()
    seen: List[List[str]] = []

    @ChildrenWatch(zk, "/kids")
    def kids(children: List[str]) -> None:
        seen.append(sorted(children))

    assert seen == [[]]
    other.create("/kids")  # the node appearing (still no children) is no change to report
    other.create("/kids/a")
    wait_until(lambda: seen[-1] == ["a"])
    other.create("/kids/b")
    wait_until(lambda: seen[-1] == ["a", "b"])
    other.set("/kids/a", b"data changes are not child changes")
    other.delete("/kids/a")
    wait_until(lambda: seen[-1] == ["b"])
    assert ["a", "b"] in seen and ["b"] == seen[-1]
    events: List[Any] = []
    cw = ChildrenWatch(zk, "/kids", lambda ch, ev: events.append(ev))
    other.create("/kids/c")
    wait_until(lambda: len(events) == 2)
    assert events[0] is None and events[1].type == EventType.NODE_CHILDREN_CHANGED
    cw.stop()


# ---------------------------------------------------------------- bulk helpers

def _build(zk: zkfast.Client, root: str, fanout: int, depth: int) -> int:
    """A tree with ``fanout`` children per node, ``depth`` levels below root."""
    zk.create(root, b"root")
    level = [root]
    count = 1
    for _ in range(depth):
        nxt = []
        ops = []
        for p in level:
            for i in range(fanout):
                c = f"{p}/n{i}"
                nxt.append(c)
                ops.append(Create(c, c.encode()))
        for i in range(0, len(ops), 1000):
            zk.multi(*ops[i:i + 1000])
        count += len(nxt)
        level = nxt
    return count


def test_walk_get_tree_delete_tree(zk: zkfast.Client) -> None:
    n = _build(zk, "/tree", 12, 3)  # 1 + 12 + 144 + 1728
    walked = list(walk(zk, "/tree", ops_per_request=50, max_requests=4))
    assert len(walked) == n and walked[0][0] == "/tree" and sorted(walked[0][1])[:2] == ["n0", "n1"]
    assert len({p for p, _ in walked}) == n
    tree = get_tree(zk, "/tree", ops_per_request=64, max_requests=4)
    assert len(tree) == n and tree["/tree/n3/n4"].data == b"/tree/n3/n4"
    assert tree["/tree/n3"].stat.num_children == 12
    assert list(walk(zk, "/missing")) == [] and get_tree(zk, "/missing") == {}
    assert delete_tree(zk, "/tree", ops_per_request=100) == n
    assert zk.exists("/tree") is None
    assert delete_tree(zk, "/tree") == 0


def test_get_tree_splits_replies_over_max_buffer(make_client) -> None:
    zk = make_client(max_buffer_size=64 * 1024)
    zk.create("/big")
    blob = b"x" * 9000
    for i in range(20):
        zk.create(f"/big/b{i}", blob)  # 180 kB in all: more than one reply may carry
    tree = get_tree(zk, "/big", ops_per_request=20)
    assert len(tree) == 21 and all(v.data == blob for k, v in tree.items() if k != "/big")


def test_delete_tree_copes_with_concurrent_changes(zk: zkfast.Client, make_client) -> None:
    _build(zk, "/del", 10, 2)
    other = make_client()
    other.delete("/del/n3/n3")
    other.create("/del/n5/late")
    assert delete_tree(zk, "/del") >= 1
    assert zk.exists("/del") is None


def test_bulk_speed_report(zk: zkfast.Client) -> None:
    # Not an assertion on speed: prints what a pipelined read of ~5k nodes costs here.
    n = _build(zk, "/speed", 70, 2)
    t = time.perf_counter()
    tree = get_tree(zk, "/speed")
    dt = time.perf_counter() - t
    assert len(tree) == n
    print(f"\nget_tree: {n} nodes in {dt:.3f}s")
    t = time.perf_counter()
    assert delete_tree(zk, "/speed") == n
    print(f"delete_tree: {n} nodes in {time.perf_counter() - t:.3f}s")
