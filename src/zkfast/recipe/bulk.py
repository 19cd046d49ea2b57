"""Whole-subtree operations with a bounded window of pipelined requests.

* :func:`walk` -- every node's path and children, breadth first, listing
  many nodes per ``multi_read`` request;
* :func:`get_tree` -- ``{path: NodeData(data, stat)}`` of a subtree (children
  are listed only for nodes whose Stat says they have some);
* :func:`delete_tree` -- delete a subtree bottom-up, hundreds of deletes per
  ``multi`` transaction (falling back to single deletes where something
  changed underneath).

At most ``max_requests`` requests of up to ``ops_per_request`` operations
are in flight at once, so memory and server load stay bounded however big
the tree. The ``*_async`` twins take a :class:`~zkfast.AsyncClient`.

>>> for path, children in walk(zk, "/app"):          # doctest: +SKIP
...     print(path, len(children))
>>> tree = get_tree(zk, "/app")                      # doctest: +SKIP
>>> delete_tree(zk, "/app")                          # doctest: +SKIP
12345
"""

from __future__ import annotations

from collections import deque
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
    Tuple,
    cast,
)

from ..errors import (
    ConnectionLossError,
    NoAuthError,
    NoNodeError,
    NotEmptyError,
    ResponseTooLargeError,
    TransactionFailedError,
)
from ..paths import validate_path
from ..transaction import Delete, GetChildren, GetData
from ._base import Batch
from ._names import join
from .cache import NodeData

__all__ = ["walk", "get_tree", "delete_tree", "walk_async", "get_tree_async", "delete_tree_async"]

OPS_PER_REQUEST = 256
MAX_REQUESTS = 16


class _Walker:
    """Breadth-first listing, one window of requests per ``step()``."""

    def __init__(self, client: Any, path: str, ops_per_request: int, max_requests: int) -> None:
        validate_path(path)
        self.client = client
        self.frontier: Deque[str] = deque([path])
        self.per = max(1, ops_per_request)
        self.max = max(1, max_requests)
        self.unreadable_as_leaf = False  # delete_tree: try to delete what it can't list

    def step(self) -> Generator[Any, Any, List[Tuple[str, List[str]]]]:
        engine = self.client._engine
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


def walk(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
         max_requests: int = MAX_REQUESTS) -> Iterator[Tuple[str, List[str]]]:
    """Yield ``(path, children)`` for every node under (and including) ``path``,
    breadth first. Nodes deleted during the walk are skipped.

    >>> sum(1 for _ in walk(zk, "/app"))   # doctest: +SKIP
    42
    """
    w = _Walker(client, path, ops_per_request, max_requests)
    while w.frontier:
        yield from client._run(w.step())


async def walk_async(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
                     max_requests: int = MAX_REQUESTS) -> AsyncIterator[Tuple[str, List[str]]]:
    """:func:`walk` for :class:`~zkfast.AsyncClient`: ``async for path, children in ...``."""
    w = _Walker(client, path, ops_per_request, max_requests)
    while w.frontier:
        for item in await client._run(w.step()):
            yield item


def _get_tree_gen(client: Any, path: str, per: int, max_requests: int,
                  progress: Optional[Callable[[int], Any]] = None
                  ) -> Generator[Any, Any, Dict[str, NodeData]]:
    validate_path(path)
    engine = client._engine
    tree: Dict[str, NodeData] = {}
    to_get: Deque[str] = deque([path])
    to_list: Deque[str] = deque()
    while to_get or to_list:
        reqs: List[Any] = []
        kinds: List[Tuple[str, List[str]]] = []
        while to_list and len(reqs) < max_requests:
            chunk = [to_list.popleft() for _ in range(min(per, len(to_list)))]
            reqs.append(engine.op_multi_read([GetChildren(p) for p in chunk]))
            kinds.append(("L", chunk))
        while to_get and len(reqs) < max_requests:
            chunk = [to_get.popleft() for _ in range(min(per, len(to_get)))]
            reqs.append(engine.op_multi_read([GetData(p) for p in chunk]))
            kinds.append(("G", chunk))
        results = yield Batch(reqs)
        before = len(tree)
        for (kind, chunk), res in zip(kinds, results):
            if isinstance(res, ConnectionLossError):
                (to_get if kind == "G" else to_list).extend(chunk)
                continue
            if isinstance(res, ResponseTooLargeError) and len(chunk) > 1:
                # too much in one reply: retry these (and go on) in smaller requests
                (to_get if kind == "G" else to_list).extend(chunk)
                per = max(1, min(per, len(chunk) // 2))
                continue
            if isinstance(res, BaseException):
                raise res
            for p, r in zip(chunk, res):
                if isinstance(r, NoNodeError):
                    continue
                if isinstance(r, BaseException):
                    raise r
                if kind == "G":
                    tree[p] = NodeData(r[0], r[1])
                    if r[1].num_children:
                        to_list.append(p)
                else:
                    to_get.extend(join(p, n) for n in r)
        if progress is not None and len(tree) > before:
            progress(len(tree) - before)
    return tree


def get_tree(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
             max_requests: int = MAX_REQUESTS,
             progress: Optional[Callable[[int], Any]] = None) -> Dict[str, NodeData]:
    """``{path: NodeData(data, stat)}`` for the subtree at ``path`` ({} if missing).

    Not a snapshot: nodes are read at slightly different times. ``progress(n)`` is
    called after each window of requests with the number of nodes it read.

    >>> get_tree(zk, "/app")["/app/config"].data   # doctest: +SKIP
    b'...'
    """
    return cast(Dict[str, NodeData],
                client._run(_get_tree_gen(client, path, ops_per_request, max_requests, progress)))


async def get_tree_async(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
                         max_requests: int = MAX_REQUESTS,
                         progress: Optional[Callable[[int], Any]] = None) -> Dict[str, NodeData]:
    """:func:`get_tree` for :class:`~zkfast.AsyncClient`."""
    return cast(Dict[str, NodeData], await client._run(
        _get_tree_gen(client, path, ops_per_request, max_requests, progress)))


def _delete_tree_gen(client: Any, path: str, per: int, max_requests: int,
                     progress: Optional[Callable[[int], Any]] = None
                     ) -> Generator[Any, Any, int]:
    validate_path(path)
    engine = client._engine
    deleted = 0
    while True:
        # 1. list everything (breadth first), 2. delete deepest first
        w = _Walker(client, path, per, max_requests)
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


def delete_tree(client: Any, path: str, *, ops_per_request: int = OPS_PER_REQUEST,
                max_requests: int = MAX_REQUESTS,
                progress: Optional[Callable[[int], Any]] = None) -> int:
    """Delete ``path`` and everything below it; returns how many nodes this
    call deleted. Missing is fine. Children created concurrently are
    deleted too (it goes round again until the subtree is gone).
    ``progress(n)`` is called after each window of deletes with how many it deleted.

    >>> delete_tree(zk, "/tmp/job-17")   # doctest: +SKIP
    3
    """
    return cast(int, client._run(
        _delete_tree_gen(client, path, ops_per_request, max_requests, progress)))


async def delete_tree_async(client: Any, path: str, *, ops_per_request: int = OPS_PER_REQUEST,
                            max_requests: int = MAX_REQUESTS,
                            progress: Optional[Callable[[int], Any]] = None) -> int:
    """:func:`delete_tree` for :class:`~zkfast.AsyncClient`."""
    return cast(int, await client._run(
        _delete_tree_gen(client, path, ops_per_request, max_requests, progress)))
