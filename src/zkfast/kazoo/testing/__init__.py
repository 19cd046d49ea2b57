"""kazoo's test harness on :mod:`zkfast.testing`: :class:`KazooTestHarness` and
:class:`KazooTestCase`, with forced connection loss and session expiry."""

from .harness import KazooTestCase, KazooTestHarness

__all__ = ["KazooTestHarness", "KazooTestCase"]
