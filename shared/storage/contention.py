"""The attempts of an optimistic write (read, change, write only if unchanged) under contention.

Writers that lose a race pause for a random time before they try again, and the longest pause
doubles with each loss ("full jitter" backoff). Retrying at once would put the losers back
into the same race: with 64 threads creating persons in one group, some lost all their 50
attempts, because one row counts the group's members."""
from __future__ import annotations

import random
import time
from typing import Iterator

ATTEMPTS = 50
FIRST_PAUSE = 0.005      # seconds: the longest pause after the first lost race
LONGEST_PAUSE = 1.0      # and after many: 50 lost attempts pause about 21 s in all (42 at most)


class ContentionError(RuntimeError):
    """Every attempt lost its race: too many writers on one row or blob at once."""


def pause_limit(losses: int) -> float:
    """The longest pause after `losses` lost races in a row."""
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** (losses - 1))


def attempts(what: str) -> Iterator[int]:
    """Attempt numbers for `for ... in attempts(...)`: the caller returns or breaks when its
    write wins. Pauses before each retry; raises ContentionError when all are used up."""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, pause_limit(attempt)))
        yield attempt
    raise ContentionError(f"too much contention on {what}")
