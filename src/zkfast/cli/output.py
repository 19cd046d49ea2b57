"""Terminal output: text and JSON on stdout, notes and errors on stderr, tables,
and progress indicators for long commands."""

from __future__ import annotations

import importlib
import itertools
import json
import threading
import time
from collections.abc import Sequence
from typing import IO, Any


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False



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
        """Columns; numbers right-aligned. Uses rich on a terminal if installed."""
        cells = [["" if c is None else str(c) for c in row] for row in rows]
        if isatty(self.out):
            try:
                rich_console = importlib.import_module("rich.console")
                rich_table = importlib.import_module("rich.table")
            except ImportError:
                pass
            else:
                table = rich_table.Table(show_edge=False, box=None, pad_edge=False)
                for i, h in enumerate(headers):
                    table.add_column(h, justify="right" if i < len(right) and right[i] else "left")
                for row in cells:
                    table.add_row(*row)
                rich_console.Console(file=self.out).print(table)
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


class Progress:
    """A progress bar on stderr for long work: tqdm or rich if installed, else a
    plain one-line counter. Shown only on a terminal, only after half a second,
    never with ``-q``/``--json`` piped output."""

    DELAY = 0.5

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
        self._bar: Any = None
        self._rich: Any = None
        if not self.enabled:
            return
        try:
            tqdm = importlib.import_module("tqdm")
        except ImportError:
            pass
        else:
            self._bar = tqdm.tqdm(total=total, desc=desc, unit="node", file=output.err,
                             leave=False, mininterval=0.1, delay=self.DELAY)
            return
        try:
            rich_console = importlib.import_module("rich.console")
            rich_progress = importlib.import_module("rich.progress")
        except ImportError:
            pass
        else:
            self._rich = rich_progress.Progress(console=rich_console.Console(file=output.err),
                                                transient=True)
            self._rich.start()
            self._task = self._rich.add_task(desc, total=total)

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()
        elif self._rich is not None:
            self._rich.update(self._task, total=total)

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        if self._rich is not None:
            self._rich.update(self._task, advance=n)
            return
        now = time.monotonic()
        if now - self._start < self.DELAY or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if self.total:
            pct = min(100.0, 100.0 * self.n / self.total)
            text = f"\r{self.desc}: {self.n}/{self.total} nodes ({pct:.0f}%)"
        else:
            text = f"\r{self.desc}: {self.n} nodes"
        self.output.err.write(text)
        self.output.err.flush()
        self._drawn = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif self._drawn:
            self.output.err.write("\r\x1b[K")
            self.output.err.flush()
            self._drawn = False

    def __enter__(self) -> Progress:  # noqa: PYI034 - typing.Self needs 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SPINNER = "|/-\\"


class Busy:
    """An elapsed-time indicator on stderr around one long call that cannot report
    progress (the bulk reads and deletes of ``zkfast.recipe.bulk``). Like
    :class:`Progress`: only on a terminal, only after half a second, not with ``-q``."""

    def __init__(self, output: Output, desc: str, enabled: bool | None = None) -> None:
        self.output = output
        self.desc = desc
        self.enabled = (not output.quiet and isatty(output.err)) if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._start = 0.0

    def __enter__(self) -> Busy:  # noqa: PYI034 - typing.Self needs 3.11
        if self.enabled:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="zkfast-cli-busy", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(Progress.DELAY):
            return
        err = self.output.err
        for i in itertools.count():
            spin = _SPINNER[i % len(_SPINNER)]
            err.write(f"\r{self.desc} {spin} {time.monotonic() - self._start:.0f}s")
            err.flush()
            self._drawn = True
            if self._stop.wait(0.2):
                return

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._drawn:
                self.output.err.write("\r\x1b[K")
                self.output.err.flush()
