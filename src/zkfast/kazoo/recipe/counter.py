"""kazoo's counter: the value is the data of ``path``, as ``repr(value)`` in
ASCII (``b"42"``, ``b"2.5"``), or with ``support_curator=True`` a 4-byte
big-endian int (Curator's SharedCount). Changes are compare-and-set on the
node version, retried when someone else changed it first.

>>> counter = zk.Counter("/hits")                 # doctest: +SKIP
>>> counter += 1
>>> counter.value, counter.pre_value, counter.post_value
(1, 0, 1)
"""

from __future__ import annotations

import struct
from typing import Any, Optional, Tuple

from ..exceptions import BadVersionError
from ..retry import ForceRetryError

__all__ = ["Counter"]

_CURATOR = struct.Struct(">i")


class Counter:
    """A shared int (or float, with ``default=0.0``) at ``path``; ``counter +=
    n`` / ``counter -= n`` change it atomically, ``value`` reads it, and
    ``pre_value``/``post_value`` tell what this instance's last change saw."""

    def __init__(self, client: Any, path: str, default: Any = 0,
                 support_curator: bool = False) -> None:
        self.client = client
        self.path = path
        self.default = default
        self.default_type = type(default)
        self.support_curator = support_curator
        self._ensured_path = False
        self.pre_value: Any = None
        self.post_value: Any = None
        if support_curator and not isinstance(default, int):
            raise TypeError("when support_curator is enabled the default type must be an int")

    def _ensure_node(self) -> None:
        if not self._ensured_path:
            self.client.ensure_path(self.path)
            self._ensured_path = True

    def _value(self) -> Tuple[Any, int]:
        self._ensure_node()
        raw, stat = self.client.get(self.path)
        if not raw:
            value = self.default
        elif self.support_curator:
            value = _CURATOR.unpack(raw)[0]
        else:
            value = raw.decode("ascii")
        return self.default_type(value), stat.version

    @property
    def value(self) -> Any:
        return self._value()[0]

    def _change(self, value: Any) -> Counter:
        if not isinstance(value, self.default_type):
            raise TypeError("invalid type for value change")
        self.client.retry(self._inner_change, value)
        return self

    def _inner_change(self, value: Any) -> None:
        self.pre_value, version = self._value()
        post_value = self.pre_value + value
        data = (_CURATOR.pack(post_value) if self.support_curator
                else repr(post_value).encode("ascii"))
        try:
            self.client.set(self.path, data, version=version)
        except BadVersionError:
            self.post_value = None
            raise ForceRetryError() from None  # someone else changed it: read again
        self.post_value = post_value

    def __add__(self, value: Any) -> Counter:
        return self._change(value)

    def __sub__(self, value: Any) -> Counter:
        return self._change(-value)

    def __repr__(self) -> str:
        post: Optional[Any] = self.post_value
        return f"<Counter {self.path!r} last={post!r}>"
