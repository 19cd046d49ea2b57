"""kazoo's leader election: a kazoo :class:`~zkfast.kazoo.recipe.lock.Lock` on
``path`` (same nodes, so kazoo and zkfast.kazoo contenders share one line).

>>> election = zk.Election("/election", "host-1")   # doctest: +SKIP
>>> election.run(lead)          # blocks until elected, runs lead(), then resigns
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from ..exceptions import CancelledError

__all__ = ["Election"]


class Election:
    """Contend for leadership of ``path``; ``identifier`` is what
    ``contenders()`` shows for this contender."""

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None) -> None:
        self.lock = client.Lock(path, identifier)

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Block until elected, call ``func(*args, **kwargs)``, then resign
        (also when it raises; the exception propagates). Returns quietly if
        :meth:`cancel` is called while waiting."""
        if not callable(func):
            raise ValueError("leader function is not callable")
        try:
            with self.lock:
                func(*args, **kwargs)
        except CancelledError:
            pass

    def cancel(self) -> None:
        """Leave the line; a leader already running ``func`` is not interrupted."""
        self.lock.cancel()

    def contenders(self) -> List[str]:
        """The contenders' identifiers, the leader first."""
        contenders: List[str] = self.lock.contenders()
        return contenders
