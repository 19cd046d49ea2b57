"""Both clients behind one blocking interface, so a scenario written once in
synchronous test code runs on :class:`zkfast.Client` and on :class:`zkfast.AsyncClient`.

``new_client("sync", hosts, ...)`` is a plain ``Client``. ``new_client("async", ...)``
is an :class:`AsyncClientFacade`: an ``AsyncClient`` on its own event loop in a
background thread, driven from the test's thread. Every API call runs on that
loop and, if it returns an awaitable, blocks until it is done; the sync-only
``*_async`` methods become the AsyncClient's awaitable call, handed back as an
:class:`AsyncCall` (``result`` / ``exception`` / ``done``, like a ``zkfast.Future``).

The helpers at the bottom look at internals both ways (threads or tasks, a
socket or a transport).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import ssl
import threading
from typing import Any, Callable, List, Optional

from zkfast import AsyncClient, Client, WaitTimeoutError

from helpers import wait_until

KINDS = ("sync", "async")

# A blocking facade call that takes longer than this is a hang, not a slow server.
_HANG = 120.0


def _wait(future: concurrent.futures.Future[Any], timeout: Optional[float]) -> bool:
    # Not future.result(timeout): its TimeoutError would be indistinguishable
    # from the call's own (WaitTimeoutError and asyncio.TimeoutError are TimeoutErrors).
    return bool(concurrent.futures.wait([future], timeout).done)


class AsyncCall:
    """The facade's answer to ``zk.get_async(...)``: the AsyncClient's future,
    waited on from another thread."""

    def __init__(self, future: concurrent.futures.Future[Any]) -> None:
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: Optional[float] = None) -> Any:
        if not _wait(self._future, timeout):
            raise WaitTimeoutError(f"no reply within {timeout}s")
        return self._future.result()

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if not _wait(self._future, timeout):
            raise WaitTimeoutError(f"no reply within {timeout}s")
        return self._future.exception()


class _OnLoop:
    """Forwards attribute reads and calls to ``target`` on ``loop``'s thread,
    awaiting what is awaitable (the AsyncClient, and recipes it makes)."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._target = target
        self._loop = loop
        self._thread = thread

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not inspect.ismethod(attr):
            return attr  # properties and plain attributes: read as they are
        return lambda *args, **kw: self._block(attr, args, kw)

    def _block(self, fn: Callable[..., Any], args: Any, kw: Any) -> Any:
        if threading.current_thread() is self._thread:
            # a callback on the client's own loop would wait for itself
            raise RuntimeError(f"blocking call of {fn.__name__} on the client's loop thread")

        async def call() -> Any:
            value = fn(*args, **kw)
            if inspect.isawaitable(value):
                value = await value
            return value
        return self._wrap(self._on_loop(call(), fn.__name__))

    def _on_loop(self, coro: Any, what: str) -> Any:
        """Run ``coro`` on the loop and wait for its result (or its exception)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        if not _wait(future, _HANG):
            raise AssertionError(f"{what} did not return within {_HANG}s")
        return future.result()

    def _wrap(self, value: Any) -> Any:
        if value is self._target:
            return self  # start() returns the client itself
        if type(value).__module__.startswith("zkfast.recipe."):
            return _OnLoop(value, self._loop, self._thread)  # zk.Lock(...) -> AsyncLock
        return value


class AsyncClientFacade(_OnLoop):
    """An AsyncClient that synchronous test code can drive. ``close()`` closes
    the client (calls still reach it, to see them refused); ``shutdown()`` also
    stops its loop and thread."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="test-asyncclient-loop", daemon=True)
        thread.start()
        super().__init__(AsyncClient(*args, **kw), loop, thread)
        self.client: AsyncClient = self._target

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_async"):
            # Client.get_async(...) is AsyncClient.get(...) not awaited yet
            return lambda *args, **kw: self._submit(getattr(self._target, name[:-6]), args, kw)
        return super().__getattr__(name)

    def _submit(self, fn: Callable[..., Any], args: Any, kw: Any) -> AsyncCall:
        async def begin() -> concurrent.futures.Future[Any]:
            pending = asyncio.ensure_future(fn(*args, **kw))  # bad arguments raise here, at the call
            answer: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def copy(done: asyncio.Future[Any]) -> None:
                if done.cancelled():
                    answer.cancel()
                elif done.exception() is not None:
                    answer.set_exception(done.exception())
                else:
                    answer.set_result(done.result())
            pending.add_done_callback(copy)
            return answer
        return AsyncCall(self._on_loop(begin(), fn.__name__))

    def spawn(self, coro_fn: Callable[[AsyncClient], Any]) -> concurrent.futures.Future[Any]:
        """Start ``coro_fn(client)`` on the client's loop (asyncio code of a
        scenario's own); its future, to wait on from the test's thread."""
        return asyncio.run_coroutine_threadsafe(coro_fn(self.client), self._loop)

    def tasks_left(self) -> List[asyncio.Task[Any]]:
        """The unfinished tasks on the client's loop (nothing else runs there),
        but for the one asking."""
        async def others() -> List[asyncio.Task[Any]]:
            return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return list(self._on_loop(others(), "all_tasks"))

    def shutdown(self) -> None:
        """Close the client, then its loop and thread."""
        loop = self._loop
        if loop.is_closed():
            return
        try:
            self.close()
            self._on_loop(loop.shutdown_default_executor(), "shutdown_default_executor")
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(_HANG)
            loop.close()

    def __enter__(self) -> AsyncClientFacade:
        if not self.client._session.started:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<AsyncClientFacade {self.client!r}>"


def new_client(kind: str, hosts: str, **kw: Any) -> Any:
    """An unstarted client of this kind: a ``Client`` or an :class:`AsyncClientFacade`."""
    if kind == "sync":
        return Client(hosts, **kw)
    if kind == "async":
        return AsyncClientFacade(hosts, **kw)
    raise ValueError(f"unknown client kind {kind!r}")


def dispose(client: Any) -> None:
    """Close a client made by :func:`new_client`, and its loop if it has one."""
    if isinstance(client, AsyncClientFacade):
        client.shutdown()
    else:
        client.close()


def close_all(made: List[Any]) -> None:
    """Close the clients a fixture made: each must leave no thread or task running
    (checked), then each is disposed of, its loop too."""
    try:
        for c in made:
            c.close()
        wait_until(lambda: not any(workers_alive(c) for c in made), timeout=10)
    finally:
        for c in made:
            dispose(c)


# ---------------------------------------------------------------------------- internals, both ways


def workers_alive(client: Any) -> List[Any]:
    """What still runs the client: its threads (Client), or the unfinished tasks
    on its loop (AsyncClient: the session's connection and dispatcher tasks, a
    heartbeat, background step runs)."""
    session = client._session
    if session.is_async:
        if isinstance(client, AsyncClientFacade) and not client._loop.is_closed():
            return client.tasks_left()
        tasks = [session._main_task, session._dispatch_task, *list(session._tasks)]
        return [t for t in tasks if t is not None and not t.done()]
    threads = (session._io_thread, session._dispatch_thread)
    return [t for t in threads if t is not None and t.is_alive()]


def connection_loop_alive(client: Any) -> bool:
    """Whether the client's connection loop (I/O thread / connection task) still runs."""
    session = client._session
    if session.is_async:
        return session._main_task is not None and not session._main_task.done()
    return session._io_thread is not None and session._io_thread.is_alive()


def tls_peer_cert(client: Any) -> Optional[dict]:
    """The server certificate of the client's live TLS connection (fails the
    test if the live connection is not TLS)."""
    session = client._session
    if session.is_async:
        transport = session._conn.transport
        assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject), transport
        return transport.get_extra_info("peercert")
    sock = session._sock
    assert isinstance(sock, ssl.SSLSocket), sock
    return sock.getpeercert()
