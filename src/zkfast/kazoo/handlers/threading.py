"""The threading handler (kazoo's default and, here, the only one).

Two worker threads run callbacks in order, one per kind: **completions**
(``rawlink`` callbacks of async results) and **watch callbacks** handed to
:meth:`SequentialThreadingHandler.dispatch_callback`. A slow callback delays
only the callbacks of its kind. (The client's own watch and state callbacks
run on its zkfast dispatcher thread; see :mod:`zkfast.kazoo.client`.)

>>> handler = SequentialThreadingHandler()
>>> result = handler.async_result()
>>> result.set(42); result.get()
42
"""

from __future__ import annotations

import logging
import queue
import select
import socket as _socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import utils

__all__ = ["KazooTimeoutError", "AsyncResult", "SequentialThreadingHandler"]

log = logging.getLogger(__name__)

_STOP: Any = object()  # tells a worker to end


def _select(rlist: Any, wlist: Any, xlist: Any,
            timeout: Optional[float] = None) -> Tuple[List[Any], List[Any], List[Any]]:
    if not hasattr(select, "poll"):
        return select.select(rlist, wlist, xlist, timeout)
    poller = select.poll()
    by_fd: Dict[int, List[Any]] = {}
    for objs, mask in ((rlist, select.POLLIN | select.POLLPRI), (wlist, select.POLLOUT)):
        for obj in objs:
            fd = obj if isinstance(obj, int) else obj.fileno()
            by_fd.setdefault(fd, [0, []])
            by_fd[fd][0] |= mask
            by_fd[fd][1].append((obj, mask))
    for fd, (mask, _) in by_fd.items():
        poller.register(fd, mask)
    ready = poller.poll(None if timeout is None else int(timeout * 1000))
    r: List[Any] = []
    w: List[Any] = []
    for fd, events in ready:
        for obj, mask in by_fd[fd][1]:
            if events & mask or events & (select.POLLERR | select.POLLHUP):
                (w if mask == select.POLLOUT else r).append(obj)
    return r, w, []


class KazooTimeoutError(Exception):
    """A wait ran out of time (``result.get(timeout=...)``, ``client.start(timeout)``)."""


class AsyncResult(utils.AsyncResult):
    """A settable async result whose waits raise :class:`KazooTimeoutError`."""

    def __init__(self, handler: Any) -> None:
        super().__init__(handler, threading.Condition, KazooTimeoutError)


class SequentialThreadingHandler:
    """Runs completion callbacks and watch callbacks on one worker thread each
    (see the module docstring); makes events, locks, results and threads."""

    name = "sequential_threading_handler"
    timeout_exception = KazooTimeoutError
    sleep_func = staticmethod(time.sleep)
    queue_impl = queue.Queue
    queue_empty = queue.Empty

    def __init__(self) -> None:
        self.callback_queue: queue.Queue[Any] = self.queue_impl()
        self.completion_queue: queue.Queue[Any] = self.queue_impl()
        self._running = False
        self._state_change = threading.Lock()
        self._workers: List[threading.Thread] = []

    @property
    def running(self) -> bool:
        return self._running

    def _worker(self, work: queue.Queue[Any], label: str) -> threading.Thread:
        def run() -> None:
            while True:
                fn = work.get()
                if fn is _STOP:
                    return
                try:
                    fn()
                except Exception:  # noqa: BLE001 - a callback must not end the worker
                    log.exception("exception in %s callback %r", label, fn)
                finally:
                    del fn  # drop the reference before waiting again
        t = threading.Thread(target=run, name=f"zkfast.kazoo-{label}", daemon=True)
        t.start()
        return t

    def start(self) -> None:
        """Start the two workers (no-op if running)."""
        with self._state_change:
            if self._running:
                return
            self._workers = [self._worker(self.completion_queue, "completion"),
                             self._worker(self.callback_queue, "watch")]
            self._running = True

    def stop(self) -> None:
        """Stop the workers after the callbacks already queued; fresh queues for a restart."""
        with self._state_change:
            if not self._running:
                return
            self._running = False
            for work in (self.completion_queue, self.callback_queue):
                work.put(_STOP)
            me = threading.current_thread()
            for worker in self._workers:
                if worker is not me:  # stopping from a callback: that worker ends on its own
                    worker.join()
            self._workers = []
            self.callback_queue = self.queue_impl()
            self.completion_queue = self.queue_impl()

    def select(self, *args: Any, **kwargs: Any) -> Tuple[List[Any], List[Any], List[Any]]:
        """``select.select(rlist, wlist, xlist[, timeout])`` for any number of
        descriptors (poll underneath where it exists)."""
        return _select(*args, **kwargs)

    def socket(self) -> _socket.socket:
        """A new TCP socket (TCP_NODELAY set)."""
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock

    def create_connection(self, *args: Any, **kwargs: Any) -> _socket.socket:
        """``create_connection(address, timeout=None, ...)``: a connected TCP
        socket (TCP_NODELAY set); TLS arguments (``use_ssl``, ``ca``, ...) as the client's."""
        from .._tls import open_connection
        return open_connection(*args, **kwargs)

    def create_socket_pair(self) -> Tuple[_socket.socket, _socket.socket]:
        return _socket.socketpair()

    def event_object(self) -> threading.Event:
        return threading.Event()

    def lock_object(self) -> Any:
        return threading.Lock()

    def rlock_object(self) -> Any:
        return threading.RLock()

    def async_result(self) -> AsyncResult:
        """A new settable :class:`AsyncResult`."""
        return AsyncResult(self)

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
        """Run ``func(*args, **kwargs)`` on a new daemon thread."""
        t = threading.Thread(target=func, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t

    def dispatch_callback(self, callback: Any) -> None:
        """Run ``callback.func(*callback.args)`` on the watch worker."""
        self.callback_queue.put(lambda: callback.func(*callback.args))
