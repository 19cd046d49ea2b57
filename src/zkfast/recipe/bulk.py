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
from typing import Any, AsyncIterator, Callable, Deque, Dict, Generator, Iterator, List, Optional, Tuple, cast

from ..errors import (
    ConnectionLossError,
    NoNodeError,
    ResponseTooLargeError,
)
from ..paths import validate_path
from ..steps import Batch
from ..transaction import GetChildren, GetData
from ..tree import MAX_REQUESTS, OPS_PER_REQUEST, TreeWalker
from ..tree import delete_tree as tree_delete
from ._names import join
from .cache import NodeData

__all__ = ["walk", "get_tree", "delete_tree", "walk_async", "get_tree_async", "delete_tree_async",
           "OPS_PER_REQUEST", "MAX_REQUESTS"]



def walk(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
         max_requests: int = MAX_REQUESTS) -> Iterator[Tuple[str, List[str]]]:
    """Yield ``(path, children)`` for every node under (and including) ``path``,
    breadth first. Nodes deleted during the walk are skipped.

    >>> sum(1 for _ in walk(zk, "/app"))   # doctest: +SKIP
    42
    """
    w = TreeWalker(client, path, ops_per_request, max_requests)
    while w.frontier:
        yield from client.run_steps(w.step())


async def walk_async(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
                     max_requests: int = MAX_REQUESTS) -> AsyncIterator[Tuple[str, List[str]]]:
    """:func:`walk` for :class:`~zkfast.AsyncClient`: ``async for path, children in ...``."""
    w = TreeWalker(client, path, ops_per_request, max_requests)
    while w.frontier:
        for item in await client.run_steps(w.step()):
            yield item


def _get_tree_gen(client: Any, path: str, per: int, max_requests: int,
                  progress: Optional[Callable[[int], Any]] = None
                  ) -> Generator[Any, Any, Dict[str, NodeData]]:
    validate_path(path)
    engine = client.requests
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
                client.run_steps(_get_tree_gen(client, path, ops_per_request, max_requests, progress)))


async def get_tree_async(client: Any, path: str = "/", *, ops_per_request: int = OPS_PER_REQUEST,
                         max_requests: int = MAX_REQUESTS,
                         progress: Optional[Callable[[int], Any]] = None) -> Dict[str, NodeData]:
    """:func:`get_tree` for :class:`~zkfast.AsyncClient`."""
    return cast(Dict[str, NodeData], await client.run_steps(
        _get_tree_gen(client, path, ops_per_request, max_requests, progress)))


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
    return cast(int, client.run_steps(
        tree_delete(client, path, ops_per_request, max_requests, progress)))


async def delete_tree_async(client: Any, path: str, *, ops_per_request: int = OPS_PER_REQUEST,
                            max_requests: int = MAX_REQUESTS,
                            progress: Optional[Callable[[int], Any]] = None) -> int:
    """:func:`delete_tree` for :class:`~zkfast.AsyncClient`."""
    return cast(int, await client.run_steps(
        tree_delete(client, path, ops_per_request, max_requests, progress)))
