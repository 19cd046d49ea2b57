"""A shared counter (int or float): compare-and-set on the node's version.

Every change reads the value and its version, then writes with that version;
a :class:`~zkfast.BadVersionError` (someone else changed it first) retries,
so concurrent increments from any number of clients lose nothing. The value
is stored as ASCII ``repr`` (kazoo's format).

A write whose reply is lost (:class:`~zkfast.ConnectionLossError`) is *not*
retried: the server may or may not have applied it, and a blind retry could
count twice. The error reaches the caller, who knows whether retrying is
safe for its purpose.

>>> hits = Counter(zk, "/stats/hits")     # doctest: +SKIP
>>> hits += 1                             # doctest: +SKIP
>>> hits.value                            # doctest: +SKIP
1
"""

from __future__ import annotations

from typing import Any, Generator, Optional, Sequence, Union

from ..errors import BadVersionError, ConnectionLossError, NodeExistsError, NoNodeError
from ..paths import parent, validate_path
from ._drivers import ASYNC, SYNC, Flavor, run_async, run_sync
from ._nodes import acl_or_default, ensure_path

__all__ = ["Counter", "AsyncCounter"]

Number = Union[int, float]


class _CounterCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, default: Number = 0, *,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError("default must be an int or a float")
        self.client = client
        self.path = path
        self.default = default
        self.default_type = type(default)
        self.acl = acl
        #: the value before / after this instance's last change
        self.pre_value: Optional[Number] = None
        self.post_value: Optional[Number] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    def _parse(self, data: bytes) -> Number:
        if not data:
            return self.default
        return self.default_type(data.decode("ascii"))

    def _value_gen(self) -> Generator[Any, Any, Number]:
        while True:
            try:
                data, _ = yield self.client.requests.op_get(self.path)
            except NoNodeError:
                return self.default
            except ConnectionLossError:
                continue
            return self._parse(data)

    def _change_gen(self, delta: Number) -> Generator[Any, Any, Number]:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise TypeError(f"cannot add {type(delta).__name__} to a counter")
        if isinstance(delta, float) and self.default_type is int:
            raise TypeError("an int counter takes int changes")
        engine = self.client.requests
        while True:
            try:
                data, stat = yield engine.op_get(self.path)
            except NoNodeError:
                yield from self._create_gen()
                continue
            except ConnectionLossError:
                continue  # a read: safe to repeat
            old = self._parse(data)
            new = old + delta
            try:
                yield engine.op_set(self.path, repr(new).encode("ascii"), stat.version)
            except BadVersionError:
                continue  # lost the race: read again
            self.pre_value, self.post_value = old, new
            return new

    def _create_gen(self) -> Generator[Any, Any, None]:
        try:
            yield self.client.requests.op_create(self.path, b"", acl_or_default(self.client, self.acl))
        except (NodeExistsError, ConnectionLossError):
            pass  # an empty node means "default": re-creating is harmless
        except NoNodeError:
            yield from ensure_path(self.client, parent(self.path), None)


class Counter(_CounterCore):
    """A counter at ``path`` (``default`` is its value before the first write,
    and fixes the type: int or float).

    ``counter += n`` / ``counter -= n`` change it (kazoo style; ``pre_value``
    and ``post_value`` tell what this change saw), ``add(n)`` returns the new
    value, ``value`` reads it.

    >>> c = Counter(zk, "/jobs/done")     # doctest: +SKIP
    >>> c.add(5)                          # doctest: +SKIP
    5
    """

    @property
    def value(self) -> Number:
        return run_sync(self.client, self._value_gen())

    def add(self, delta: Number) -> Number:
        return run_sync(self.client, self._change_gen(delta))

    def __add__(self, delta: Number) -> Counter:
        self.add(delta)
        return self

    def __sub__(self, delta: Number) -> Counter:
        self.add(-delta)
        return self

    __iadd__ = __add__
    __isub__ = __sub__


class AsyncCounter(_CounterCore):
    """:class:`Counter` for :class:`~zkfast.AsyncClient`.

    >>> await AsyncCounter(zk, "/jobs/done").add(1)   # doctest: +SKIP
    1
    """

    _flavor = ASYNC

    async def get(self) -> Number:
        return await run_async(self.client, self._value_gen())

    async def add(self, delta: Number) -> Number:
        return await run_async(self.client, self._change_gen(delta))
