"""How node values, stats, times and sizes are shown: text or base64 in JSON,
ISO times, human sizes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from ..records import Stat
from .exitcodes import EXIT_USAGE, CLIError


def encode_value(value: bytes | None) -> dict[str, Any]:
    """A node value for JSON: text when it is UTF-8, else base64."""
    if value is None:
        return {"value": None}
    try:
        return {"value": value.decode("utf-8")}
    except UnicodeDecodeError:
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64"}


def decode_value(entry: dict[str, Any], where: str) -> bytes:
    value = entry.get("value")
    if value is None:
        return b""
    if not isinstance(value, str):
        raise CLIError(f"{where}: 'value' must be a string or null", EXIT_USAGE)
    enc = entry.get("encoding", "utf-8")
    if enc == "base64":
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise CLIError(f"{where}: invalid base64 value", EXIT_USAGE) from None
    if enc not in ("utf-8", "utf8"):
        raise CLIError(f"{where}: unknown encoding {enc!r} (utf-8 or base64)", EXIT_USAGE)
    return value.encode("utf-8")


def ms_to_iso(ms: int) -> str:
    if not ms:
        return "0"
    dt = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stat_json(stat: Stat) -> dict[str, Any]:
    return dict(stat._asdict())


def human_size(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024.0
    return f"{n:.1f}T"  # pragma: no cover


def child_path(path: str, name: str) -> str:
    return f"/{name}" if path == "/" else f"{path}/{name}"
