"""Node-name parsing of the recipes (zkfast.recipe._names), against every
name form the peers that share our paths really write.

The names below are copied from real nodes: Curator 5.4's protected names
(``_c_`` + dashed UUID + ``-``, as in the bug report of issue 13),
go-zookeeper's (``_c_`` + 32 hex + ``-``), zkfast's own, and kazoo's
unprotected lock names (``<uuid hex>__lock__<seq>``).
"""

from __future__ import annotations

import uuid

import pytest

from zkfast.recipe._names import new_guid, protected_guid, queue_order, seq_of, strip_protected

CURATOR_GUID = "d2d7323f-10b9-4ff1-b1c4-9ebb1f0639d0"
GO_GUID = "a104ee50faea4775a6101f8a6d6a950f"

CURATOR_LOCK = f"_c_{CURATOR_GUID}-lock-0000000000"
GO_LOCK = f"_c_{GO_GUID}-lock-0000000001"


@pytest.mark.parametrize("name, bare", [
    # Curator: InterProcessMutex, InterProcessReadWriteLock, LeaderLatch, InterProcessSemaphoreV2
    (CURATOR_LOCK, "lock-0000000000"),
    (f"_c_{CURATOR_GUID}-__READ__0000000002", "__READ__0000000002"),
    (f"_c_{CURATOR_GUID}-__WRIT__0000000003", "__WRIT__0000000003"),
    (f"_c_{CURATOR_GUID}-latch-0000000004", "latch-0000000004"),
    (f"_c_{CURATOR_GUID}-lease-0000000005", "lease-0000000005"),
    # go-zookeeper's zk.NewLock and zkfast's own recipes
    (GO_LOCK, "lock-0000000001"),
    (f"_c_{GO_GUID}-__READ__0000000006", "__READ__0000000006"),
    # dashes after the guid belong to the name
    (f"_c_{GO_GUID}-entry-010-0000000007", "entry-010-0000000007"),
    (f"_c_{CURATOR_GUID}-entry-010-0000000008", "entry-010-0000000008"),
    (f"_c_{CURATOR_GUID}-my-job-name-0000000009", "my-job-name-0000000009"),
    # upper-case hex parses too (Java's UUID.fromString accepts it)
    (f"_c_{CURATOR_GUID.upper()}-lock-0000000010", "lock-0000000010"),
])
def test_strip_protected_every_peer_form(name: str, bare: str) -> None:
    assert strip_protected(name) == bare


@pytest.mark.parametrize("name", [
    "lock-0000000001",                                       # unprotected
    "__READ__0000000001",
    f"{GO_GUID}__lock__0000000001",                          # kazoo Lock
    f"{GO_GUID}__rlock__0000000001",                         # kazoo ReadLock
    "entry-100-0000000001",                                  # kazoo Queue
    "_c_",
    f"_c_{CURATOR_GUID}-",                                   # a prefix and nothing else
    f"_c_{GO_GUID}-",
    f"_c_{CURATOR_GUID}lock-0000000001",                     # no separator after the guid
    f"_c_{GO_GUID[:31]}-lock-0000000001",                    # 31 hex digits
    f"_c_{GO_GUID}0-lock-0000000001",                        # 33 hex digits
    f"_c_{CURATOR_GUID[:-1]}g-lock-0000000001",              # not hex
    f"_c_{CURATOR_GUID.replace('-', '_')}-lock-0000000001",  # dashes misplaced
    "_c_some-other-client-guid-lock-0000000001",             # unknown guid form
    "x_c_" + GO_GUID + "-lock-0000000001",
])
def test_strip_protected_leaves_other_names_alone(name: str) -> None:
    assert strip_protected(name) == name
    assert protected_guid(name) is None


def test_the_bug_of_issue_13() -> None:
    # The old parser cut the name at the first '-' after "_c_", so a Curator node
    # read as "10b9-4ff1-b1c4-9ebb1f0639d0-lock-0000000000" and left the line.
    assert strip_protected(CURATOR_LOCK).startswith("lock-")
    assert queue_order([GO_LOCK, CURATOR_LOCK]) == [CURATOR_LOCK, GO_LOCK]


def test_protected_guid() -> None:
    assert protected_guid(CURATOR_LOCK) == CURATOR_GUID
    assert protected_guid(GO_LOCK) == GO_GUID
    ours = new_guid()
    assert protected_guid(f"_c_{ours}-latch-0000000000") == ours


def test_our_own_guids_parse() -> None:
    for _ in range(200):
        guid = new_guid()
        assert len(guid) == 32 and int(guid, 16) >= 0
        assert strip_protected(f"_c_{guid}-lock-0000000012") == "lock-0000000012"
        curator = str(uuid.uuid4())  # what Curator's UUID.randomUUID().toString() looks like
        assert strip_protected(f"_c_{curator}-lock-0000000012") == "lock-0000000012"


def test_seq_of() -> None:
    assert seq_of(CURATOR_LOCK) == 0
    assert seq_of(f"_c_{GO_GUID}-entry-010-0000000123") == 123
    assert seq_of("lock-") == -1
    assert seq_of("config") == -1
    assert seq_of("lock-12345") == -1  # not a ZooKeeper sequence suffix (10 digits)


def test_queue_order_ranks_every_sequential_child_by_sequence() -> None:
    children = [
        f"_c_{GO_GUID}-__WRIT__0000000007",
        "_c_some-other-client-guid-lock-0000000003",  # unknown guid: still in line
        f"_c_{CURATOR_GUID}-__READ__0000000005",
        "leases",                                    # no sequence: not a contender
        f"{GO_GUID}__lock__0000000004",              # kazoo
        CURATOR_LOCK,
        GO_LOCK,
        "lock-0000000006",
    ]
    assert queue_order(children) == [
        CURATOR_LOCK,
        GO_LOCK,
        "_c_some-other-client-guid-lock-0000000003",
        f"{GO_GUID}__lock__0000000004",
        f"_c_{CURATOR_GUID}-__READ__0000000005",
        "lock-0000000006",
        f"_c_{GO_GUID}-__WRIT__0000000007",
    ]
    assert queue_order([]) == []
    assert queue_order(["a", "b"]) == []
