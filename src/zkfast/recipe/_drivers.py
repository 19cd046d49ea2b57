"""How recipes run their step generators on either client.

A recipe's protocol is written once, as a generator of steps
(:mod:`zkfast.steps`: requests, batches, waits). :func:`run_sync` runs it on
a :class:`zkfast.Client` (blocking), :func:`run_async` on a
:class:`zkfast.AsyncClient` (awaiting), both through the client's
``run_steps``; :func:`drive` runs one in the background. A :class:`Flavor`
bundles what differs between the two worlds (event type, timers), so a
recipe's sync and async classes are a few lines each.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Generator, Optional, TypeVar, cast

from ..interface import SessionClient
from ..steps import Done, Wait, WaitConnected

__all__ = ["Flavor", "SYNC", "ASYNC", "flavor_for", "run_sync", "run_async", "drive",
           "is_async_client", "Wait", "WaitConnected", "StepGen", "spawn"]

log = logging.getLogger("zkfast.recipe")

StepGen = Generator[Any, Any, Any]
_T = TypeVar("_T")


def is_async_client(client: Any) -> bool:
    """True for :class:`zkfast.AsyncClient` (it says so: ``client.is_async``)."""
    return bool(getattr(client, "is_async", False))


def run_sync(client: SessionClient, gen: Generator[Any, Any, _T],
             on_abort: Optional[Callable[[], Any]] = None) -> _T:
    """Drive ``gen`` to its end on a sync :class:`zkfast.Client`, blocking.

    ``on_abort`` runs if the caller is interrupted (e.g. KeyboardInterrupt)
    in the middle, so a recipe can hand its cleanup to the background.
    """
    try:
        return cast(_T, client.run_steps(gen))
    except Exception:
        raise
    except BaseException:
        gen.close()
        if on_abort is not None:
            on_abort()
        raise


async def run_async(client: SessionClient, gen: Generator[Any, Any, _T],
                    on_abort: Optional[Callable[[], Any]] = None) -> _T:
    """Drive ``gen`` to its end on a :class:`zkfast.AsyncClient`.

    If the awaiting task is cancelled mid-way, ``on_abort`` runs (a recipe
    hands its cleanup to the background) and the cancellation propagates.
    """
    try:
        return cast(_T, await client.run_steps(gen))
    except Exception:
        raise
    except BaseException:
        gen.close()
        if on_abort is not None:
            on_abort()
        raise


def drive(client: SessionClient, gen: StepGen, done: Optional[Done] = None) -> None:
    """Run a request generator in the background; nobody blocks.

    Each reply resumes the generator (sync client: on its dispatcher thread;
    async client: on the event loop). ``done(result, error)`` runs at the end.
    The generator must not yield :class:`Wait`.
    """
    client.run_in_background(gen, done)


_tasks: set[asyncio.Task[Any]] = set()  # keep background tasks referenced


def spawn(coro: Any) -> None:
    """Run a coroutine (an async listener's) on the running loop, kept referenced."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Flavor:
    """What differs between the sync and the asyncio world for a recipe."""

    is_async = False

    def event(self) -> Any:
        return threading.Event()

    def call_later(self, client: SessionClient, delay: float, fn: Callable[[], Any]) -> Any:
        return client.call_later(delay, fn)

    def check(self, client: Any, cls_name: str) -> None:
        if is_async_client(client):
            raise TypeError(f"{cls_name} needs a zkfast.Client; use Async{cls_name} "
                            "with an AsyncClient")


class _AsyncFlavor(Flavor):
    is_async = True

    def event(self) -> Any:
        return asyncio.Event()

    def call_later(self, client: SessionClient, delay: float, fn: Callable[[], Any]) -> Any:
        return client.call_later(delay, fn)

    def check(self, client: Any, cls_name: str) -> None:
        if not is_async_client(client):
            name = cls_name[5:] if cls_name.startswith("Async") else cls_name
            raise TypeError(f"{cls_name} needs a zkfast.AsyncClient; use {name} with a Client")


SYNC = Flavor()
ASYNC = _AsyncFlavor()


def flavor_for(client: Any) -> Flavor:
    return ASYNC if is_async_client(client) else SYNC
