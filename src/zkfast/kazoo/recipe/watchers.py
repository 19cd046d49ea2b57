"""kazoo's watch recipes: :class:`DataWatch` and :class:`ChildrenWatch` call a
function now and after every change (re-setting their one-shot watch each
time, and again after reconnects and session loss); :class:`PatientChildrenWatch`
waits until a node's children stop changing.

Functions run on the zkfast dispatcher thread (watch events) or a spawned
thread (after a reconnect), one at a time per watch. Returning ``False`` stops
the watch; a watch on a closed client ends quietly.

>>> @zk.DataWatch("/config")               # doctest: +SKIP
... def changed(data, stat):               # (data, stat, event) also works
...     print("config is now", data)
"""

from __future__ import annotations

import logging
import time
import warnings
from functools import partial, wraps
from typing import Any, Callable, List, Optional, Tuple

from ..exceptions import ConnectionClosedError, KazooException, NoNodeError
from ..protocol.states import EventType, KazooState
from ..retry import KazooRetry

__all__ = ["DataWatch", "ChildrenWatch", "PatientChildrenWatch"]

log = logging.getLogger(__name__)


def _ignore_closed(func: Callable[..., Any]) -> Callable[..., Any]:
    """A stopped client ends the watch quietly (ConnectionClosedError)."""
    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectionClosedError:
            return None
    return run


class DataWatch:
    """Calls ``func(data, stat)`` -- or ``func(data, stat, event)`` if it takes
    three arguments -- at once and whenever the node's data changes, it is
    created or it is deleted (then ``data`` and ``stat`` are None). ``event``
    is None for calls not caused by a watch event. Usable as a decorator:
    ``@zk.DataWatch(path)``. One function per instance."""

    def __init__(self, client: Any, path: str, func: Optional[Callable[..., Any]] = None,
                 *args: Any, **kwargs: Any) -> None:
        self._client = client
        self._path = path
        self._func = func
        self._stopped = False
        self._run_lock = client.handler.lock_object()
        self._version: Optional[int] = None
        self._retry = KazooRetry(max_tries=None, sleep_func=client.handler.sleep_func)
        self._ever_called = False
        self._used = False
        if args or kwargs:
            warnings.warn("Passing additional arguments to DataWatch is deprecated: a missing "
                          "node is always watched, and the event is passed if the function "
                          "takes it", DeprecationWarning, stacklevel=2)
        if func is not None:
            self._start(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if self._used:
            raise KazooException("A function has already been associated with this "
                                 "DataWatch instance.")
        self._start(func)
        return func

    def _start(self, func: Callable[..., Any]) -> None:
        self._func = func
        self._used = True
        self._client.add_listener(self._session_watcher)
        self._get_data()

    def _call_func(self, data: Any, stat: Any, event: Any) -> None:
        self._ever_called = True
        func = self._func
        if func is None:
            return
        try:
            result = func(data, stat, event)
        except TypeError:
            result = func(data, stat)  # a two-argument function
        if result is False:
            self._stopped = True
            self._func = None
            self._client.remove_listener(self._session_watcher)

    @_ignore_closed
    def _get_data(self, event: Any = None) -> None:
        with self._run_lock:  # a watch event and a reconnect may both ask at once
            if self._stopped:
                return
            before = self._version
            try:
                data, stat = self._retry(self._client.get, self._path, self._watcher)
            except NoNodeError:
                data = None
                stat = self._retry(self._client.exists, self._path, self._watcher)
                if stat is not None:
                    # created between our get and exists: read it properly
                    self._client.handler.spawn(self._get_data)
                    return
            self._version = None if stat is None else stat.mzxid
            if before != self._version or not self._ever_called:
                try:
                    self._call_func(data, stat, event)
                except Exception:
                    log.exception("DataWatch function for %s raised", self._path)
                    raise

    def _watcher(self, event: Any) -> None:
        self._get_data(event=event)

    def _session_watcher(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._client.handler.spawn(self._get_data)


class ChildrenWatch:
    """Calls ``func(children)`` -- ``func(children, event)`` with
    ``send_event=True`` -- at once and whenever the node's children change.
    The node must exist; the watch stops when it is deleted. With
    ``allow_session_lost=False`` it also stops for good when the session is
    lost. Usable as a decorator. One function per instance."""

    def __init__(self, client: Any, path: str, func: Optional[Callable[..., Any]] = None,
                 allow_session_lost: bool = True, send_event: bool = False) -> None:
        self._client = client
        self._path = path
        self._func = func
        self._send_event = send_event
        self._stopped = False
        self._watch_established = False
        self._allow_session_lost = allow_session_lost
        self._run_lock = client.handler.lock_object()
        self._prior_children: Optional[List[str]] = None
        self._used = False
        if func is not None:
            self._start(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if self._used:
            raise KazooException("A function has already been associated with this "
                                 "ChildrenWatch instance.")
        self._start(func)
        return func

    def _start(self, func: Callable[..., Any]) -> None:
        self._func = func
        self._used = True
        if self._allow_session_lost:
            self._client.add_listener(self._session_watcher)
        self._get_children()

    @_ignore_closed
    def _get_children(self, event: Any = None) -> None:
        with self._run_lock:
            if self._stopped:
                return
            try:
                children = self._client.retry(self._client.get_children, self._path,
                                              self._watcher)
            except NoNodeError:
                self._stopped = True
                return
            if not self._watch_established:
                self._watch_established = True
                if self._prior_children is not None and self._prior_children == children:
                    return  # re-armed after a reconnect: nothing changed
            self._prior_children = children
            func = self._func
            if func is None:
                return
            try:
                result = func(children, event) if self._send_event else func(children)
            except Exception:
                log.exception("ChildrenWatch function for %s raised", self._path)
                raise
            if result is False:
                self._stopped = True
                self._func = None
                if self._allow_session_lost:
                    self._client.remove_listener(self._session_watcher)

    def _watcher(self, event: Any) -> None:
        if event.type != EventType.NONE:
            self._get_children(event)

    def _session_watcher(self, state: str) -> None:
        if state in (KazooState.LOST, KazooState.SUSPENDED):
            self._watch_established = False
        elif state == KazooState.CONNECTED and not self._watch_established and not self._stopped:
            self._client.handler.spawn(self._get_children)


class PatientChildrenWatch:
    """Waits until the children of ``path`` stay unchanged for
    ``time_boundary`` seconds. ``start()`` returns an async result of
    ``(children, changed)``, where ``changed`` is an async result set when the
    children change later."""

    def __init__(self, client: Any, path: str, time_boundary: float = 30) -> None:
        self.client = client
        self.path = path
        self.children: List[str] = []
        self.time_boundary = time_boundary
        self.children_changed = client.handler.event_object()
        self.asy: Any = None

    def start(self) -> Any:
        """Begin watching (in a new thread); the async result described above."""
        self.asy = self.client.handler.async_result()
        self.client.handler.spawn(self._inner_start)
        return self.asy

    def _inner_start(self) -> None:
        try:
            while True:
                changed = self.client.handler.async_result()
                self.children = self.client.retry(self.client.get_children, self.path,
                                                  partial(self._children_watcher, changed))
                self.client.handler.sleep_func(self.time_boundary)
                if not self.children_changed.is_set():
                    break
                self.children_changed.clear()
            result: Tuple[List[str], Any] = (self.children, changed)
            self.asy.set(result)
        except Exception as exc:  # noqa: BLE001 - handed to the result
            self.asy.set_exception(exc)

    def _children_watcher(self, changed: Any, event: Any) -> None:
        self.children_changed.set()
        changed.set(time.monotonic())
