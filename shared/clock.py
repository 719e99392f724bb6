"""The service's notion of "now", in one place so tests can move time instead of sleeping.

Code that compares against expiry times calls `now()`; tests call `shift()` (or `set_offset`)
and `reset()` afterwards."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_offset = timedelta()


def now() -> datetime:
    """The current time as an aware UTC datetime (plus any offset a test applied)."""
    return datetime.now(timezone.utc) + _offset


def shift(seconds: float) -> None:
    """Move the clock forward (or back, if negative) by `seconds`."""
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _offset
    _offset = timedelta()
