"""What recipes, :mod:`zkfast.transaction` and multi-step calls may use of a client.

Both :class:`zkfast.Client` and :class:`zkfast.AsyncClient` satisfy
:class:`SessionClient`. A recipe builds requests with ``client.requests``
(the engine's ``op_*`` builders, :class:`RequestFactory`), writes its protocol
as a step generator (:mod:`zkfast.steps`) and hands it to
``client.run_steps`` (blocking on a Client, awaitable on an AsyncClient) or
``client.run_in_background``. It reads the session through the public
properties below and nothing else: no underscore attribute of a client or
engine. ``client.is_async`` says which kind it is.

>>> def count_children(client: SessionClient, path: str):   # a tiny "recipe"
...     names = yield client.requests.op_get_children(path)
...     return len(names)
>>> client.run_steps(count_children(client, "/app"))          # doctest: +SKIP
3
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Protocol, Sequence

from .events import State
from .requests import PendingRequest
from .steps import Done, StepGen

__all__ = ["RequestFactory", "SessionClient", "Cancellable"]


class RequestFactory(Protocol):
    """Builds validated, unsent requests (:class:`zkfast.requests.RequestBuilder`)."""

    chroot: str

    def server_path(self, path: Any, sequential: bool = False) -> str: ...
    def op_create(self, path: str, value: Any = b"", acl: Any = None, *, ephemeral: bool = False,
                  sequence: bool = False, container: bool = False, ttl: Optional[float] = None,
                  include_data: bool = False) -> PendingRequest: ...
    def op_delete(self, path: str, version: int = -1) -> PendingRequest: ...
    def op_exists(self, path: str, watch: Any = None) -> PendingRequest: ...
    def op_get(self, path: str, watch: Any = None) -> PendingRequest: ...
    def op_set(self, path: str, value: Any, version: int = -1) -> PendingRequest: ...
    def op_get_children(self, path: str, watch: Any = None,
                        include_data: bool = False) -> PendingRequest: ...
    def op_sync(self, path: str) -> PendingRequest: ...
    def op_get_acls(self, path: str) -> PendingRequest: ...
    def op_set_acls(self, path: str, acls: Any, version: int = -1) -> PendingRequest: ...
    def op_add_watch(self, path: str, watch: Any, recursive: bool = False) -> PendingRequest: ...
    def op_multi(self, ops: Sequence[Any]) -> PendingRequest: ...
    def op_multi_read(self, ops: Sequence[Any]) -> PendingRequest: ...
    def op_count_children(self, path: str) -> PendingRequest: ...


class Cancellable(Protocol):
    """A timer handle (``threading.Timer``-like or ``asyncio.TimerHandle``)."""

    def cancel(self) -> Any: ...


class SessionClient(Protocol):
    """The part of a client that recipes and multi-step calls use."""

    #: True for :class:`zkfast.AsyncClient`: run_steps and wait_connected are awaitable.
    is_async: ClassVar[bool]
    #: The engine's request builders.
    requests: RequestFactory
    #: The ACL ``create`` uses when none is given.
    default_acl: Optional[Sequence[Any]]

    @property
    def state(self) -> State: ...
    @property
    def connected(self) -> bool: ...
    @property
    def session_id(self) -> int: ...
    @property
    def negotiated_session_timeout(self) -> float: ...
    @property
    def last_heard(self) -> float: ...

    def run_steps(self, gen: StepGen) -> Any:
        """Drive ``gen`` to its end: its result (Client) or an awaitable of it (AsyncClient)."""
        ...

    def submit(self, req: PendingRequest) -> Any:
        """Send one request: a :class:`zkfast.Future` or an asyncio future."""
        ...

    def run_in_background(self, gen: StepGen, done: Optional[Done] = None) -> None:
        """Drive ``gen`` without blocking; ``done(result, error)`` hears the end."""
        ...

    def call_later(self, delay: float, fn: Callable[[], Any]) -> Cancellable:
        """Run ``fn()`` after ``delay`` seconds (a thread or the event loop)."""
        ...

    def new_event(self) -> Any:
        """An event of the client's kind: ``threading.Event`` or ``asyncio.Event``."""
        ...

    def wait_connected(self, timeout: Optional[float] = None) -> Any:
        """Whether connected within ``timeout`` (awaitable on AsyncClient)."""
        ...

    def add_listener(self, fn: Callable[[State], Any]) -> None: ...
    def remove_listener(self, fn: Callable[[State], Any]) -> None: ...

    def remove_watches_steps(self, path: str, watcher_type: int, watch: Optional[Callable[..., Any]],
                             local: bool) -> StepGen:
        """``remove_watches`` as a step generator (to ``yield from``)."""
        ...
