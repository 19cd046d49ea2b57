"""``watch``: stream the events of a persistent (optionally recursive) watch."""

from __future__ import annotations

import queue
import time

from ...events import EventType, State, WatchedEvent
from ..context import Context
from ..exitcodes import EXIT_CONNECTION, EXIT_OK, CLIError


def cmd_watch(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    zk = ctx.zk
    events: queue.Queue[WatchedEvent] = queue.Queue()
    states: queue.Queue[State] = queue.Queue()
    zk.add_listener(states.put)
    zk.add_watch(a.path, events.put, recursive=a.recursive)
    out.info(f"watching {a.path}{' recursively' if a.recursive else ''} "
             "(Ctrl-C to stop)")
    deadline = None if a.watch_timeout is None else time.monotonic() + a.watch_timeout
    seen = 0
    try:
        while a.count is None or seen < a.count:
            while not states.empty():
                st = states.get_nowait()
                if st in (State.SUSPENDED, State.CONNECTED):
                    out.info(f"connection state: {st.value}")
            wait = 0.2
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if a.count is not None:
                        out.err.write(f"zkfast: timed out after {a.watch_timeout:g}s with {seen} of "
                                      f"{a.count} events\n")
                        return EXIT_CONNECTION
                    return EXIT_OK
                wait = min(wait, left)
            try:
                ev = events.get(timeout=wait)
            except queue.Empty:
                continue
            if ev.type == EventType.NOT_WATCHING:
                raise CLIError(f"the watch ended: {ev.error or 'session closed'}", EXIT_CONNECTION)
            seen += 1
            if out.json:
                out.emit_json({"type": ev.type.name, "path": ev.path, "state": ev.state.value})
            else:
                out.line(f"{ev.type.name} {ev.path}")
            out.out.flush()
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is the normal way to stop watching
    return EXIT_OK
