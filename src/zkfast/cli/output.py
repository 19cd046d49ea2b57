"""Terminal output: text and JSON on stdout, notes and errors on stderr, tables, and
progress for long commands.

Tables and progress use `rich <https://rich.readthedocs.io>`_ when it is installed
(``pip install 'zkfast[cli]'``) and the stream is a terminal; without it they are plain
text. zkfast itself needs neither.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import IO, Any, Optional


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def load_rich() -> Optional[SimpleNamespace]:
    """rich's ``console``, ``progress`` and ``table`` modules, or None when rich is not
    installed (zkfast does not depend on it; the ``cli`` extra brings it)."""
    try:
        return SimpleNamespace(**{name: importlib.import_module(f"rich.{name}")
                                  for name in ("console", "progress", "table")})
    except ImportError:
        return None


class Output:
    """Where a command writes: text to ``out``, diagnostics to ``err``."""

    def __init__(self, out: IO[str], err: IO[str], json_mode: bool, quiet: bool) -> None:
        self.out = out
        self.err = err
        self.json = json_mode
        self.quiet = quiet

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def info(self, text: str) -> None:
        """An informational line on stderr (suppressed by ``-q``)."""
        if not self.quiet:
            self.err.write(f"zkfast: {text}\n")
            self.err.flush()

    def warn(self, text: str) -> None:
        self.err.write(f"zkfast: warning: {text}\n")
        self.err.flush()

    def emit_json(self, obj: Any) -> None:
        pretty = isatty(self.out)
        text = json.dumps(obj, indent=2 if pretty else None, ensure_ascii=False,
                          default=str) + "\n"
        if getattr(self.out, "buffer", None) is None:
            self.out.write(text)
            return
        self.write_bytes(text.encode(getattr(self.out, "encoding", None) or "utf-8",
                                     getattr(self.out, "errors", None) or "strict"))

    def write_bytes(self, data: bytes) -> None:
        """Write ``data`` whole, or raise (:class:`BrokenPipeError` when the reader left).

        A large write to a pipe whose reader quits part-way returns short from
        ``BufferedWriter.write`` without an error, and ``TextIOWrapper.write`` drops the
        rest: so write in a loop until all is out or the next write fails."""
        self.out.flush()
        buf = getattr(self.out, "buffer", None)
        if buf is None:
            self.out.write(data.decode("utf-8", errors="replace"))
            return
        view = memoryview(data)
        while view:
            n = buf.write(view)
            view = view[len(view) if n is None else n:]
        buf.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              right: Sequence[bool] = ()) -> None:
        """Columns; numbers right-aligned. A rich table on a terminal when rich is installed
        (the ``cli`` extra), else plain aligned text."""
        cells = [["" if c is None else str(c) for c in row] for row in rows]
        rich = load_rich() if isatty(self.out) else None
        if rich is not None:
            table = rich.table.Table(show_edge=False, box=None, pad_edge=False)
            for i, h in enumerate(headers):
                table.add_column(h, justify="right" if i < len(right) and right[i] else "left")
            for row in cells:
                table.add_row(*row)
            rich.console.Console(file=self.out).print(table)
            return
        widths = [len(h) for h in headers]
        for row in cells:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))

        def fmt(row: Sequence[str]) -> str:
            parts = []
            for i, c in enumerate(row):
                if i < len(right) and right[i]:
                    parts.append(c.rjust(widths[i]))
                elif i == len(row) - 1:
                    parts.append(c)
                else:
                    parts.append(c.ljust(widths[i]))
            return "  ".join(parts).rstrip()

        self.line(fmt(list(headers)))
        for row in cells:
            self.line(fmt(row))


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} nodes/s" if seconds > 0 else ""


class Progress:
    """Progress of a long command on stderr, in nodes: done, of how many (when known),
    and the rate. A rich progress bar when rich is installed, else one plain line
    redrawn in place. Shown only on a terminal, only after half a second, never with
    ``-q``; the line is gone when the work ends.

    >>> with Progress(output, "deleting /app", total=20100) as progress:  # doctest: +SKIP
    ...     bulk.delete_tree(zk, "/app", progress=progress.update)
    """

    DELAY = 0.5
    """Seconds before anything is drawn (quick commands show nothing)."""
    REDRAW = 0.1

    def __init__(self, output: Output, desc: str, total: int | None = None,
                 enabled: bool | None = None) -> None:
        self.output = output
        self.desc = desc
        self.total = total
        self.n = 0
        self.enabled = (not output.quiet and isatty(output.err)) if enabled is None else enabled
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self._lock = threading.Lock()  # updates may come from the client's threads
        self._rich = load_rich() if self.enabled else None
        self._bar: Any = None  # the rich Progress, once shown
        self._task: Any = None

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._bar.update(self._task, total=total)

    def update(self, n: int = 1) -> None:
        """``n`` more nodes done."""
        with self._lock:
            self.n += n
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._start < self.DELAY:
                return
            if self._rich is not None:
                self._update_rich()
            elif now - self._last_draw >= self.REDRAW:
                self._last_draw = now
                self._draw_plain(now)

    def _update_rich(self) -> None:
        rich = self._rich
        assert rich is not None
        if self._bar is None:
            p = rich.progress
            self._bar = p.Progress(
                p.TextColumn("{task.description}"), p.BarColumn(),
                p.TextColumn("{task.completed:,.0f}/{task.total:,.0f} nodes"
                             if self.total else "{task.completed:,.0f} nodes"),
                p.TextColumn("{task.fields[rate]}"), p.TimeElapsedColumn(),
                console=rich.console.Console(file=self.output.err),
                transient=True, refresh_per_second=10)
            self._task = self._bar.add_task(self.desc, total=self.total, rate="")
            self._bar.start()
        self._bar.update(self._task, completed=self.n,
                         rate=_rate(self.n, time.monotonic() - self._start))

    def _draw_plain(self, now: float) -> None:
        rate = _rate(self.n, now - self._start)
        if self.total:
            pct = min(100.0, 100.0 * self.n / self.total)
            text = f"{self.desc}: {self.n:,}/{self.total:,} nodes ({pct:.0f}%), {rate}"
        else:
            text = f"{self.desc}: {self.n:,} nodes, {rate}"
        self.output.err.write(f"\r{text}\x1b[K")
        self.output.err.flush()
        self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
            elif self._drawn:
                self.output.err.write("\r\x1b[K")
                self.output.err.flush()
                self._drawn = False

    def __enter__(self) -> Progress:  # noqa: PYI034 - typing.Self needs 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
