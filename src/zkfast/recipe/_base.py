"""Machinery shared by every recipe, for both clients.

A recipe's protocol is written once, as a generator of *steps*:

* a request built with ``client._engine.op_*`` (the reply is sent back, an
  error thrown in), or a :class:`~zkfast._api.Batch` of requests (a list of
  results/exception instances comes back) -- exactly what ``client._run``
  drives;
* a :class:`Wait` -- "block until this event is set or the timeout passes"
  (``True``/``False`` comes back).

:func:`run_sync` drives such a generator on a :class:`zkfast.Client` (the
event is a ``threading.Event``) and :func:`run_async` on a
:class:`zkfast.AsyncClient` (an ``asyncio.Event``); the request steps go
through ``client._run`` either way. :func:`drive` runs a generator *without*
blocking anyone (reply callbacks resume it), for work that reacts to watches
and state changes. A :class:`Flavor` bundles what differs between the two
worlds (event type, timers, the driver), so a recipe's sync and async classes
are a few lines each.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Generator, List, Optional, Sequence, Tuple, TypeVar, cast

from ..errors import (
    ClosedError,
    ConnectionLossError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    ZooKeeperError,
)
from ..events import State
from ..paths import validate_path
from ..steps import PROTECTED_PREFIX, Batch
from ._names import join, seq_of, strip_protected, to_bytes

__all__ = [
    "Wait", "WaitConnected", "ensure_connected", "Flavor", "SYNC", "ASYNC", "run_sync",
    "run_async", "drive", "Reconciler",
    "SessionTracker", "Batch", "join", "seq_of", "strip_protected", "to_bytes",
    "is_async_client", "flavor_for", "discard_prefixed", "create_protected",
]

log = logging.getLogger("zkfast.recipe")

_monotonic = time.monotonic

#: Errors after which retrying the same idempotent read is the right thing.
RETRYABLE = (ConnectionLossError,)


def is_async_client(client: Any) -> bool:
    """True for :class:`zkfast.AsyncClient` (its ``_run`` is a coroutine function)."""
    return asyncio.iscoroutinefunction(getattr(type(client), "_run", None))


def session_timeout_of(client: Any) -> float:
    """The negotiated session timeout in seconds (what the server will wait)."""
    engine = getattr(client, "_engine", None)
    ms = getattr(engine, "negotiated_timeout_ms", 0) if engine is not None else 0
    return ms / 1000.0 if ms else float(getattr(client, "session_timeout", 10.0))


# ---------------------------------------------------------------- steps and drivers

class Wait:
    """A generator step: wait for ``event`` (set by a watch or listener) or
    ``timeout`` seconds (None: forever). The driver sends back whether the
    event was set."""

    __slots__ = ("event", "timeout")

    def __init__(self, event: Any, timeout: Optional[float] = None) -> None:
        self.event = event
        self.timeout = timeout


class WaitConnected:
    """A generator step: wait until the client is connected, at most
    ``timeout`` seconds; the driver sends back whether it is. Recipes with a
    deadline use it so a disconnected client cannot hold them past it (a
    request issued while disconnected waits for the reconnect)."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: Optional[float] = None) -> None:
        self.timeout = timeout


Step = Any
StepGen = Generator[Step, Any, Any]
_T = TypeVar("_T")
_DONE = object()
_PAUSES = (Wait, WaitConnected)


def _segment(gen: StepGen, value: Any, error: Optional[BaseException]
             ) -> Generator[Step, Any, Tuple[Any, Any]]:
    """Hand ``gen``'s request steps to ``client._run`` until it yields a Wait or ends."""
    while True:
        try:
            step = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return (_DONE, stop.value)
        if type(step) in _PAUSES:
            return (step, None)
        value = error = None
        try:
            value = yield step
        except Exception as e:  # noqa: BLE001 - the client's error for this step, handed on
            error = e


def run_sync(client: Any, gen: Generator[Step, Any, _T],
             on_abort: Optional[Callable[[], Any]] = None) -> _T:
    """Drive ``gen`` to its end on a sync :class:`zkfast.Client`, blocking.

    ``on_abort`` runs if the caller is interrupted (e.g. KeyboardInterrupt)
    in the middle, so a recipe can hand its cleanup to the background.
    """
    value: Any = None
    error: Optional[BaseException] = None
    try:
        while True:
            step, result = client._run(_segment(gen, value, error))
            if step is _DONE:
                return cast(_T, result)  # gen's own return value
            error = None
            if type(step) is WaitConnected:
                value = client.wait_connected(step.timeout)
            else:
                value = step.event.wait(step.timeout)
    except Exception:
        raise
    except BaseException:
        gen.close()
        if on_abort is not None:
            on_abort()
        raise


async def run_async(client: Any, gen: Generator[Step, Any, _T],
                    on_abort: Optional[Callable[[], Any]] = None) -> _T:
    """Drive ``gen`` to its end on a :class:`zkfast.AsyncClient`.

    If the awaiting task is cancelled mid-way, ``on_abort`` runs (a recipe
    hands its cleanup to the background) and the cancellation propagates.
    """
    value: Any = None
    error: Optional[BaseException] = None
    try:
        while True:
            step, result = await client._run(_segment(gen, value, error))
            if step is _DONE:
                return cast(_T, result)  # gen's own return value
            error = None
            if type(step) is WaitConnected:
                value = await client.wait_connected(step.timeout)
                continue
            if step.event.is_set():
                value = True
                continue
            try:
                await asyncio.wait_for(step.event.wait(), step.timeout)
                value = True
            except asyncio.TimeoutError:
                value = False
    except Exception:
        raise
    except BaseException:
        gen.close()
        if on_abort is not None:
            on_abort()
        raise


_tasks: set[asyncio.Task[Any]] = set()  # keep background tasks referenced


def drive(client: Any, gen: StepGen,
          done: Optional[Callable[[Any, Optional[BaseException]], Any]] = None) -> None:
    """Run a request generator in the background; nobody blocks.

    Each reply resumes the generator (sync client: on its dispatcher thread;
    async client: on the event loop). ``done(result, error)`` runs at the end.
    The generator must not yield :class:`Wait`.
    """
    if is_async_client(client):
        task = client._loop.create_task(client._run(gen))
        _tasks.add(task)

        def finished(t: asyncio.Task[Any]) -> None:
            _tasks.discard(t)
            exc: Optional[BaseException]
            if t.cancelled():
                res, exc = None, ClosedError("cancelled")
            else:
                exc = t.exception()
                res = None if exc is not None else t.result()
            if done is not None:
                done(res, exc)
            elif exc is not None and not isinstance(exc, ZooKeeperError):
                log.error("background recipe step failed", exc_info=exc)

        task.add_done_callback(finished)
        return
    _SyncDrive(client, gen, done).resume(None, None)


class _SyncDrive:
    """Callback-chained driver for the sync client: submit, and continue the
    generator from the reply's done-callback (on the dispatcher thread)."""

    __slots__ = ("client", "gen", "done", "_left", "_futs", "_lock")

    def __init__(self, client: Any, gen: StepGen,
                 done: Optional[Callable[[Any, Optional[BaseException]], Any]]) -> None:
        self.client = client
        self.gen = gen
        self.done = done
        self._lock = threading.Lock()

    def resume(self, value: Any, error: Optional[BaseException]) -> None:
        gen = self.gen
        while True:
            try:
                step = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                self._finish(stop.value, None)
                return
            except BaseException as e:  # noqa: BLE001 - reported to done()
                self._finish(None, e)
                return
            value = error = None
            if isinstance(step, Batch):
                if not step:
                    value = []
                    continue
                futs: List[Any] = []
                for req in step:
                    try:
                        futs.append(self.client._submit(req))
                    except ZooKeeperError as e:
                        futs.append(e)
                self._futs = futs
                self._left = sum(1 for f in futs if not isinstance(f, BaseException))
                if not self._left:
                    value = futs
                    continue
                for f in futs:
                    if not isinstance(f, BaseException):
                        f.add_done_callback(self._one_done)
                return
            try:
                fut = self.client._submit(step)
            except ZooKeeperError as e:
                error = e
                continue
            fut.add_done_callback(self._step_done)
            return

    def _step_done(self, fut: Any) -> None:
        exc = fut.exception()
        if exc is not None:
            self.resume(None, exc)
        else:
            self.resume(fut.result(), None)

    def _one_done(self, _fut: Any) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if not last:
            return
        out = []
        for f in self._futs:
            if isinstance(f, BaseException):
                out.append(f)
            else:
                e = f.exception()
                out.append(e if e is not None else f.result())
        self._futs = []
        self.resume(out, None)

    def _finish(self, result: Any, error: Optional[BaseException]) -> None:
        if self.done is not None:
            try:
                self.done(result, error)
            except Exception:  # noqa: BLE001
                log.exception("recipe completion callback failed")
        elif error is not None and not isinstance(error, ZooKeeperError):
            log.error("background recipe step failed", exc_info=error)


# ---------------------------------------------------------------- flavors

class _Timer:
    """A cancellable one-shot timer running ``fn`` on its own thread."""

    def __init__(self, delay: float, fn: Callable[[], Any]) -> None:
        self._t = threading.Timer(delay, fn)
        self._t.daemon = True
        self._t.start()

    def cancel(self) -> None:
        self._t.cancel()


class Flavor:
    """What differs between the sync and the asyncio world for a recipe."""

    is_async = False

    def event(self) -> Any:
        return threading.Event()

    def call_later(self, client: Any, delay: float, fn: Callable[[], Any]) -> Any:
        return _Timer(delay, fn)

    def check(self, client: Any, cls_name: str) -> None:
        if is_async_client(client):
            raise TypeError(f"{cls_name} needs a zkfast.Client; use Async{cls_name} "
                            "with an AsyncClient")


class _AsyncFlavor(Flavor):
    is_async = True

    def event(self) -> Any:
        return asyncio.Event()

    def call_later(self, client: Any, delay: float, fn: Callable[[], Any]) -> Any:
        return client._loop.call_later(delay, fn)

    def check(self, client: Any, cls_name: str) -> None:
        if not is_async_client(client):
            name = cls_name[5:] if cls_name.startswith("Async") else cls_name
            raise TypeError(f"{cls_name} needs a zkfast.AsyncClient; use {name} with a Client")


SYNC = Flavor()
ASYNC = _AsyncFlavor()


def flavor_for(client: Any) -> Flavor:
    return ASYNC if is_async_client(client) else SYNC


# ---------------------------------------------------------------- background reconciling

class Reconciler:
    """Runs ``make_gen()`` in the background, one run at a time.

    ``trigger()`` while a run is in flight schedules exactly one more run
    after it, so bursts of watch events coalesce. ``on_result(value)`` gets
    each run's result; a run failing with a connection/session error is
    dropped (a state listener triggers again on reconnect). With the async
    flavor ``on_result`` may return an awaitable; it is awaited before the
    next run.
    """

    def __init__(self, client: Any, make_gen: Callable[[], StepGen],
                 on_result: Optional[Callable[[Any], Any]] = None,
                 on_error: Optional[Callable[[BaseException], Any]] = None) -> None:
        self.client = client
        self.make_gen = make_gen
        self.on_result = on_result
        self.on_error = on_error
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self.stopped = False
        self._async = is_async_client(client)

    def trigger(self) -> None:
        with self._lock:
            if self.stopped:
                return
            if self._running:
                self._again = True
                return
            self._running = True
        self._start()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._again = False

    def run_blocking(self) -> Any:
        """Sync flavor: one run in the calling thread (triggers meanwhile
        queue a background run after it)."""
        with self._lock:
            self._running = True
        try:
            result = self.client._run(self.make_gen())
            err: Optional[BaseException] = None
        except Exception as e:  # noqa: BLE001 - handed to _done, re-raised below
            result, err = None, e
        self._done(result, err)
        if err is not None:
            raise err
        return result

    def _start(self) -> None:
        if self._async:
            task = self.client._loop.create_task(self._run_async())
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
        else:
            drive(self.client, self.make_gen(), self._done)

    async def _run_async(self) -> None:
        try:
            result = await self.client._run(self.make_gen())
            err: Optional[BaseException] = None
        except Exception as e:  # noqa: BLE001
            result, err = None, e
        if err is None and self.on_result is not None and not self.stopped:
            try:
                r = self.on_result(result)
                if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                    await r
            except Exception:  # noqa: BLE001
                log.exception("recipe callback failed")
        self._after(err)

    def _done(self, result: Any, err: Optional[BaseException]) -> None:
        if err is None and self.on_result is not None and not self.stopped:
            try:
                self.on_result(result)
            except Exception:  # noqa: BLE001
                log.exception("recipe callback failed")
        self._after(err)

    def _after(self, err: Optional[BaseException]) -> None:
        if err is not None:
            if self.on_error is not None:
                try:
                    self.on_error(err)
                except Exception:  # noqa: BLE001
                    log.exception("recipe error handler failed")
            elif not isinstance(err, ZooKeeperError):
                log.error("background recipe run failed", exc_info=err)
        with self._lock:
            again = self._again and not self.stopped
            self._again = False
            if not again:
                self._running = False
        if again:
            self._start()


# ---------------------------------------------------------------- session tracking

class SessionTracker:
    """Follows the session that owns a recipe's ephemeral node.

    ``on_event(kind)`` is called with ``"suspended"`` (connection lost: the
    node *may* be gone soon), ``"resumed"`` (reconnected within the same
    session: still ours), ``"lost"`` (the session expired or the client
    closed: the node is gone) or ``"timeout"`` (suspended for a whole session
    timeout: the server has expired the session or is about to; the node
    must be treated as gone, and the owner should delete it should the
    session come back). After ``lost``/``timeout`` the tracker stops.
    """

    IDLE, OK, SUSPENDED = 0, 1, 2

    def __init__(self, client: Any, flavor: Flavor, on_event: Callable[[str], Any]) -> None:
        self.client = client
        self.flavor = flavor
        self.on_event = on_event
        self.session_id = 0
        self.status = self.IDLE
        self._timer: Any = None
        self._lock = threading.Lock()

    def start(self, session_id: int) -> None:
        with self._lock:
            self.session_id = session_id
            self.status = self.OK
        self.client.add_listener(self._on_state)
        state = self.client.state
        if self.client.session_id != session_id or state in (State.EXPIRED, State.CLOSED):
            self._on_state(State.EXPIRED)
        elif not state.is_connected:
            self._on_state(State.SUSPENDED)

    def stop(self) -> None:
        with self._lock:
            self.status = self.IDLE
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.client.remove_listener(self._on_state)

    def _on_state(self, state: State) -> None:
        kind = None
        with self._lock:
            if self.status == self.IDLE:
                return
            if state == State.SUSPENDED:
                if self.status == self.OK:
                    self.status = self.SUSPENDED
                    self._timer = self.flavor.call_later(
                        self.client, session_timeout_of(self.client), self._on_timer)
                    kind = "suspended"
            elif state.is_connected:
                timer, self._timer = self._timer, None
                if timer is not None:
                    timer.cancel()
                if self.client.session_id != self.session_id:
                    self.status = self.IDLE
                    kind = "lost"
                elif self.status == self.SUSPENDED:
                    self.status = self.OK
                    kind = "resumed"
            elif state in (State.EXPIRED, State.CLOSED, State.AUTH_FAILED):
                self.status = self.IDLE
                kind = "lost"
        if kind is None:
            return
        if self.status == self.IDLE:
            self._cleanup()
        self.on_event(kind)

    def _on_timer(self) -> None:
        with self._lock:
            if self.status != self.SUSPENDED:
                return
            self.status = self.IDLE
            self._timer = None
        self._cleanup()
        self.on_event("timeout")

    def _cleanup(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.client.remove_listener(self._on_state)


# ---------------------------------------------------------------- node helpers (generators)

def create_protected(client: Any, path: str, value: bytes, acl: Optional[Sequence[Any]],
                     guid: str, ephemeral: bool = True, makepath: bool = True,
                     deadline: Optional[float] = None, block: bool = True
                     ) -> Generator[Step, Any, Optional[str]]:
    """A protected sequential create (``parent/_c_<guid>-<name><seq>``), the
    parents made on demand. A lost reply is recovered by finding our guid
    among the children instead of creating a second node. Returns None if
    ``deadline`` passes while disconnected (a node of ours may exist then:
    the caller discards ``_c_<guid>-*``). ``block=False`` (for :func:`drive`,
    which cannot wait): requests simply queue until the reconnect."""
    engine = client._engine
    i = path.rfind("/")
    par = path[:i] or "/"
    prefix = f"{PROTECTED_PREFIX}{guid}-"
    full = join(par, prefix + path[i + 1:])
    maybe_applied = False
    while True:
        if block and not (yield from ensure_connected(client, deadline)):
            return None
        if maybe_applied:
            try:
                children = yield engine.op_get_children(par)
            except ConnectionLossError:
                continue
            except NoNodeError:
                children = []
            for name in children:
                if name.startswith(prefix):
                    return join(par, name)
        try:
            created: str = yield engine.op_create(full, value, client._acl(acl), ephemeral=ephemeral,
                                                  sequence=True)
            return created
        except ConnectionLossError:
            maybe_applied = True
        except NoNodeError:
            if not makepath:
                raise
            yield from client._ensure_path(par, None)


def ensure_connected(client: Any, deadline: Optional[float]) -> Generator[Step, Any, bool]:
    """True at once if connected; else wait for it until ``deadline`` (False
    when it passes). Raises :class:`~zkfast.ClosedError` if the client is
    closed (or can never connect: auth failed)."""
    if client.connected:
        return True
    if deadline is not None and _monotonic() >= deadline:
        return False
    if (yield WaitConnected(remaining(deadline))):
        return True
    if deadline is None or client.state in (State.CLOSED, State.AUTH_FAILED):
        raise ClosedError()
    return False


def create_unique(client: Any, path: str, value: bytes, acl: Optional[Sequence[Any]],
                  ephemeral: bool = True, makepath: bool = True) -> Generator[Step, Any, str]:
    """Create a node whose name is unique to us: a NodeExistsError after a
    lost reply (ConnectionLossError) means our own earlier attempt applied."""
    retried = False
    while True:
        try:
            created: str = yield client._engine.op_create(path, value, client._acl(acl),
                                                          ephemeral=ephemeral)
            return created
        except ConnectionLossError:
            retried = True
        except NodeExistsError:
            if retried:
                return path
            raise
        except NoNodeError:
            if not makepath:
                raise
            parent = path[:path.rfind("/")] or "/"
            yield from client._ensure_path(parent, None)


def delete_quietly(client: Any, path: str) -> Generator[Step, Any, bool]:
    """Delete ``path``; missing is fine; a lost reply is retried. False when
    the session ended (the node went with it, if ephemeral)."""
    while True:
        try:
            yield client._engine.op_delete(path)
            return True
        except NoNodeError:
            return True
        except ConnectionLossError:
            continue
        except (SessionExpiredError, ClosedError):
            return False


def discard_prefixed(client: Any, parent: str, prefix: str, inline: bool = True
                     ) -> Generator[Step, Any, int]:
    """Delete every child of ``parent`` whose name starts with ``prefix`` (our
    protected guid): the cleanup that leaves no contender behind.

    With ``inline`` the caller waits only while connected: if the connection
    is down (or drops meanwhile) the rest continues in the background after
    the reconnect, so a timed-out acquire returns on time.
    """
    while True:
        if inline and not client.connected:
            drive(client, discard_prefixed(client, parent, prefix, inline=False))
            return 0
        try:
            children = yield client._engine.op_get_children(parent)
        except NoNodeError:
            return 0
        except ConnectionLossError:
            continue
        except (SessionExpiredError, ClosedError):
            return 0
        mine = [join(parent, c) for c in children if c.startswith(prefix)]
        if not mine:
            return 0
        results = yield Batch([client._engine.op_delete(p) for p in mine])
        if any(isinstance(r, ConnectionLossError) for r in results):
            continue
        return len(mine)


def deadline_of(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else _monotonic() + max(0.0, timeout)


def remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - _monotonic())


def check_path(path: str) -> str:
    validate_path(path)
    return path


# ---------------------------------------------------------------- holders of an ephemeral node

class Holder:
    """State and session handling of something held through one ephemeral
    node (a lock, a semaphore lease).

    ``is_acquired`` is True from acquisition until release or a known loss;
    ``suspended`` while the connection is down; ``lost`` (an event of the
    recipe's flavor) is set when the hold is lost. ``listener(state)`` hears
    ``State.SUSPENDED`` / ``State.CONNECTED`` / ``State.EXPIRED`` (= lost),
    ``on_lost()`` the loss only.
    """

    _flavor: Flavor = SYNC

    def _init_holder(self, client: Any, listener: Optional[Callable[[State], Any]],
                     on_lost: Optional[Callable[[], Any]]) -> None:
        self.client = client
        self.listener = listener
        self.on_lost = on_lost
        #: our node while acquiring/held
        self.node: Optional[str] = None
        #: True from a successful acquire until release() or a known loss
        self.is_acquired = False
        #: True while the holder's connection is down (the hold is in doubt)
        self.suspended = False
        #: set when a hold is lost (session expired/closed/timed out)
        self.lost = self._flavor.event()
        self._mutex = threading.Lock()
        self._acquiring = False
        self._owned = False
        self._tracker = SessionTracker(client, self._flavor, self._on_session)

    def _mark_held(self, node: str, session_id: int) -> None:
        with self._mutex:
            self.node = node
            self.is_acquired = True
            self._owned = True
            self._acquiring = False
            self.suspended = False
            self.lost.clear()
        self._tracker.start(session_id)

    def _take_for_release(self, error: Callable[[], BaseException]) -> Tuple[Optional[str], bool]:
        """Mark released; (node, whether it was still held). Raises ``error()``
        if this instance holds nothing."""
        with self._mutex:
            if not self._owned:
                raise error()
            self._owned = False
            held = self.is_acquired
            self.is_acquired = False
            self.suspended = False
            node, self.node = self.node, None
        self._tracker.stop()
        return node, held

    def _delete_node_gen(self, node: str) -> Generator[Step, Any, None]:
        if not self.client.connected:  # finish after the reconnect; don't block the caller
            drive(self.client, delete_quietly(self.client, node))
            return
        try:
            yield self.client._engine.op_delete(node)
        except NoNodeError:
            pass
        except ConnectionLossError:
            # Unknown whether it applied: finish in the background (it waits
            # for the reconnect) rather than block the caller.
            drive(self.client, delete_quietly(self.client, node))
        except (SessionExpiredError, ClosedError):
            pass  # the node went with the session

    def _on_session(self, kind: str) -> None:
        if kind == "suspended":
            self.suspended = True
            self._notify(State.SUSPENDED)
            return
        if kind == "resumed":
            self.suspended = False
            self._notify(State.CONNECTED)
            return
        with self._mutex:
            if not self.is_acquired:
                return
            self.is_acquired = False
            self.suspended = False
            node = self.node
        self.lost.set()
        if kind == "timeout" and node is not None:
            # The server may still have our session (and node): delete it
            # once we can, so we don't block the next holder forever.
            drive(self.client, delete_quietly(self.client, node))
        self._notify(State.EXPIRED)
        if self.on_lost is not None:
            try:
                self.on_lost()
            except Exception:  # noqa: BLE001
                log.exception("on_lost callback failed")

    def _notify(self, state: State) -> None:
        if self.listener is not None:
            try:
                self.listener(state)
            except Exception:  # noqa: BLE001
                log.exception("recipe listener failed")
