"""Timer triggers: NCRONTAB schedules (`sec min hour day month day-of-week`), run_on_startup,
and a `func.TimerRequest` whose past_due says the run started late."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from azure.functions.timer import TimerRequest

from devhost.listener import Listener
from devhost.registry import FunctionEntry

log = logging.getLogger("face.runtime")

PAST_DUE_AFTER = timedelta(seconds=1)
NAMES = {
    4: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    5: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
RANGES = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _value(text: str, field: int) -> int:
    names = NAMES.get(field, [])
    if text.lower()[:3] in names and not text.isdigit():
        return names.index(text.lower()[:3]) + RANGES[field][0]
    value = int(text)
    return 0 if field == 5 and value == 7 else value   # 7 is Sunday too


def _field(text: str, field: int) -> frozenset[int]:
    low, high = RANGES[field]
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (_value(v, field) for v in span.split("-", 1))
        else:
            start = _value(span, field)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ValueError(f"NCRONTAB field {text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]     # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> "Schedule":
        fields = expression.split()
        if len(fields) == 5:          # NCRONTAB also accepts the 5-field form (second 0)
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields (sec min hour day month dow): "
                             f"{expression!r}")
        return cls(*(_field(text, i) for i, text in enumerate(fields)))

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7
        return moment.month in self.months and moment.day in self.days \
            and weekday in self.weekdays

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (day and weekday must both match,
        as in NCrontab)."""
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=9 * 366)   # a 29 February can be 8 years away
        while candidate < limit:
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0, second=0)
            elif candidate.minute not in self.minutes:
                candidate = (candidate + timedelta(minutes=1)).replace(second=0)
            elif candidate.second not in self.seconds:
                candidate += timedelta(seconds=1)
            else:
                return candidate
        raise ValueError("the schedule never fires")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class TimerListener(Listener):
    """Runs happen on the listener's own thread, so runs of one timer never overlap."""

    def __init__(self, entry: FunctionEntry):
        super().__init__(entry)
        self.schedule = Schedule.parse(entry.setting("schedule"))

    def run(self) -> None:
        last = None
        if self.entry.trigger.get("runOnStartup"):
            last = _now()
            self._fire(last, None, past_due=False)
        due = self.schedule.next_after(_now())
        while not self.stopping.wait(max(0.0, (due - _now()).total_seconds())):
            self._fire(due, last, past_due=_now() - due > PAST_DUE_AFTER)
            last = due
            due = self.schedule.next_after(max(due, _now()))

    def _fire(self, due: datetime, last: datetime | None, past_due: bool) -> None:
        status = {"Last": last.isoformat() if last else None,
                  "Next": self.schedule.next_after(due).isoformat(),
                  "LastUpdated": _now().isoformat()}
        request = TimerRequest(past_due=past_due, schedule_status=status)
        try:
            self.entry.invoke(request, reason=f"Timer fired at {_now().isoformat()}")
        except Exception:  # noqa: BLE001 - logged by invoke; the next occurrence still runs
            pass
