"""Whole-subtree step generators: breadth-first listing with a bounded
window of pipelined ``multi_read`` requests, and bottom-up deletion in
``multi`` batches. The API's ``delete(recursive=True)`` and the bulk recipes
(:mod:`zkfast.recipe.bulk`) both run these.

At most ``max_requests`` requests of up to ``ops_per_request`` operations
are in flight at once, so memory and server load stay bounded however big
the tree.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Generator, List, Optional, Tuple

from .errors import (
    ConnectionLossError,
    NoAuthError,
    NoNodeError,
    NotEmptyError,
    ResponseTooLargeError,
    TransactionFailedError,
)
from .paths import join, validate_path
from .steps import Batch
from .transaction import Delete, GetChildren

if TYPE_CHECKING:
    from .interface import SessionClient

__all__ = ["TreeWalker", "delete_tree", "OPS_PER_REQUEST", "MAX_REQUESTS"]

#: Operations per multi_read / multi request.
OPS_PER_REQUEST = 256
#: Requests in flight at once.
MAX_REQUESTS = 16


class TreeWalker:
    """Breadth-first listing, one window of requests per ``step()``."""

    def __init__(self, client: SessionClient, path: str, ops_per_request: int, max_requests: int) -> None:
        validate_path(path)
        self.client = client
        self.frontier: Deque[str] = deque([path])
        self.per = max(1, ops_per_request)
        self.max = max(1, max_requests)
        self.unreadable_as_leaf = False  # delete_tree: try to delete what it can't list

    def step(self) -> Generator[Any, Any, List[Tuple[str, List[str]]]]:
        engine = self.client.requests
        chunks: List[List[str]] = []
        while self.frontier and len(chunks) < self.max:
            chunk: List[str] = []
            while self.frontier and len(chunk) < self.per:
                chunk.append(self.frontier.popleft())
            chunks.append(chunk)
        results = yield Batch([engine.op_multi_read([GetChildren(p) for p in c]) for c in chunks])
        out: List[Tuple[str, List[str]]] = []
        retry: List[str] = []
        for chunk, res in zip(chunks, results):
            if isinstance(res, ConnectionLossError):
                retry.extend(chunk)  # reads: safe to repeat after the reconnect
                continue
            if isinstance(res, ResponseTooLargeError):
                for p in chunk:  # one by one; a single oversized list still raises
                    try:
                        names = yield engine.op_get_children(p)
                    except NoNodeError:
                        continue
                    out.append((p, names))
                    self.frontier.extend(join(p, n) for n in names)
                continue
            if isinstance(res, BaseException):
                raise res
            for p, names in zip(chunk, res):
                if isinstance(names, NoNodeError):
                    continue  # deleted meanwhile
                if isinstance(names, NoAuthError) and self.unreadable_as_leaf:
                    out.append((p, []))  # can't list it; deletable if it has no children
                    continue
                if isinstance(names, BaseException):
                    raise names
                out.append((p, names))
                self.frontier.extend(join(p, n) for n in names)
        self.frontier.extendleft(reversed(retry))
        return out



def delete_tree(client: SessionClient, path: str, per: int = OPS_PER_REQUEST,
                max_requests: int = MAX_REQUESTS,
                progress: Optional[Callable[[int], Any]] = None) -> Generator[Any, Any, int]:
    """Delete ``path`` and its subtree: list it breadth first, then delete
    deepest first, hundreds of deletes per ``multi``; returns how many nodes
    it deleted. Goes round again until nothing is left (children created
    meanwhile are deleted too). ``progress(n)`` hears how many each window of
    deletes removed."""
    validate_path(path)
    engine = client.requests
    deleted = 0
    while True:
        # 1. list everything (breadth first), 2. delete deepest first
        w = TreeWalker(client, path, per, max_requests)
        w.unreadable_as_leaf = True
        order: List[str] = []
        while w.frontier:
            for p, _ in (yield from w.step()):
                order.append(p)
        if path == "/":
            order = order[1:]  # the root itself cannot be deleted
            if not engine.chroot:  # the server's own /zookeeper (under a chroot it is a user's node)
                order = [p for p in order if p != "/zookeeper" and not p.startswith("/zookeeper/")]
        if not order:
            return deleted
        order.reverse()
        leftovers = False
        chunk_size = max(1, min(per, 1000))
        chunks = [order[i:i + chunk_size] for i in range(0, len(order), chunk_size)]
        for i in range(0, len(chunks), max_requests):
            window = chunks[i:i + max_requests]
            results = yield Batch([engine.op_multi([Delete(p) for p in c]) for c in window])
            before = deleted
            for chunk, res in zip(window, results):
                if not isinstance(res, BaseException):
                    deleted += len(chunk)
                    continue
                if not isinstance(res, (TransactionFailedError, ConnectionLossError)):
                    raise res
                # something changed underneath (or the reply was lost): one by one
                singles = yield Batch([engine.op_delete(p) for p in chunk])
                for r in singles:
                    if r is None or r is True:
                        deleted += 1
                    elif isinstance(r, (NotEmptyError, ConnectionLossError)):
                        leftovers = True  # a child appeared / unknown: go round again
                    elif not isinstance(r, NoNodeError):
                        raise r
            if progress is not None and deleted > before:
                progress(deleted - before)
        if not leftovers:
            return deleted
