"""Command-line helpers that need no server."""

from __future__ import annotations

from zkfast.cli.context import depth_below


def test_depth_below() -> None:
    assert depth_below("/", "/") == 0  # the root itself (was 1: `tree -L 1 /` showed nothing)
    assert depth_below("/", "/a") == 1
    assert depth_below("/", "/a/b") == 2
    assert depth_below("/app", "/app") == 0
    assert depth_below("/app", "/app/x") == 1
    assert depth_below("/app", "/app/x/y") == 2
