"""Terminal output of the command line, with rich (the ``cli`` extra) and without it."""

from __future__ import annotations

import io
import re
import sys
from typing import Iterator

import pytest
import rich  # noqa: F401 - the `test` extra brings it: both output paths are tested

from zkfast.cli.output import Output, Progress, load_rich


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_rich(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if rich were not installed: every ``import rich...`` fails."""
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")] + ["rich"]:
        monkeypatch.setitem(sys.modules, name, None)
    assert load_rich() is None
    yield


@pytest.fixture(autouse=True)
def draw_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "REDRAW", 0.0)


def test_plain_progress_shows_counts_and_rate(no_rich: None) -> None:
    err = FakeTTY()
    output = Output(io.StringIO(), err, json_mode=False, quiet=False)
    with Progress(output, "dumping /x", total=2000) as p:
        for _ in range(4):
            p.update(500)
    text = err.getvalue()
    assert "\rdumping /x: 500/2,000 nodes (25%), " in text
    assert "dumping /x: 2,000/2,000 nodes (100%), " in text and " nodes/s" in text
    assert text.endswith("\r\x1b[K")  # the line is gone at the end
    err = FakeTTY()
    with Progress(Output(io.StringIO(), err, False, False), "deleting /y") as p:
        p.update(7)
    assert "deleting /y: 7 nodes, " in err.getvalue()  # total unknown: a count


def test_rich_progress_shows_counts_and_rate() -> None:
    err = FakeTTY()
    output = Output(io.StringIO(), err, json_mode=False, quiet=False)
    with Progress(output, "dumping /x", total=2000) as p:
        for _ in range(4):
            p.update(500)
        assert p._bar is not None  # rich draws it
    text = err.getvalue()
    assert "dumping /x" in text and "2,000/2,000 nodes" in text and "nodes/s" in text


def test_progress_only_on_a_terminal_and_not_with_quiet() -> None:
    quiet = Output(io.StringIO(), FakeTTY(), json_mode=False, quiet=True)
    assert not Progress(quiet, "x").enabled
    piped = io.StringIO()
    with Progress(Output(io.StringIO(), piped, False, False), "x", total=5) as p:
        p.update(5)
    assert not p.enabled and piped.getvalue() == ""


ROWS = [["/a", 12, 3456], ["/bb", 1, 7]]


def test_plain_table(no_rich: None) -> None:
    out = FakeTTY()
    Output(out, io.StringIO(), False, False).table(["PATH", "NODES", "BYTES"], ROWS,
                                                   right=[False, True, True])
    assert out.getvalue() == ("PATH  NODES  BYTES\n"
                              "/a       12   3456\n"
                              "/bb       1      7\n")


def test_rich_table_on_a_terminal_plain_when_piped() -> None:
    out = FakeTTY()
    Output(out, io.StringIO(), False, False).table(["PATH", "NODES", "BYTES"], ROWS,
                                                   right=[False, True, True])
    assert "\x1b[" in out.getvalue()  # rich styles the headers
    lines = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines()
    assert [line.split() for line in lines if line.strip()] == [
        ["PATH", "NODES", "BYTES"], ["/a", "12", "3456"], ["/bb", "1", "7"]]
    piped = io.StringIO()
    Output(piped, io.StringIO(), False, False).table(["PATH", "NODES", "BYTES"], ROWS,
                                                     right=[False, True, True])
    assert piped.getvalue().startswith("PATH  NODES  BYTES\n")  # scripts get plain text
