"""Following the session that owns a recipe's ephemeral node, and the state
of something held through one (a lock, a semaphore lease)."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Generator, Optional, Tuple

from ..errors import ClosedError, ConnectionLossError, NoNodeError, SessionExpiredError
from ..events import State
from ..interface import SessionClient
from ._drivers import SYNC, Flavor, drive
from ._nodes import delete_quietly, presumed_lost_in

__all__ = ["SessionTracker", "Holder"]

log = logging.getLogger("zkfast.recipe")

Step = Any


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

    def __init__(self, client: SessionClient, flavor: Flavor, on_event: Callable[[str], Any]) -> None:
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
                        self.client, presumed_lost_in(self.client), self._on_timer)
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
            elif state == State.LOST:
                # the client's own verdict (our timer says the same, unless a
                # slow listener delayed this one): the session may be gone
                if self.status == self.SUSPENDED:
                    self.status = self.IDLE
                    kind = "timeout"
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

    def _init_holder(self, client: SessionClient, listener: Optional[Callable[[State], Any]],
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
            yield self.client.requests.op_delete(node)
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
