"""When a cron schedule fires next (five-field cron expressions, as in ``/etc/cron.d``)."""

from datetime import datetime, timedelta
from typing import List, Optional, Set

FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
SEARCH_DAYS = 366 * 5  # covers every valid expression (29 February included)


def next_run(expression: str, after: datetime) -> Optional[datetime]:
    """The first minute strictly after ``after`` that ``expression`` matches; None when invalid."""
    try:
        minutes, hours, days, months, weekdays = parse_expression(expression)
    except ValueError:
        return None
    weekdays = {day % 7 for day in weekdays}  # 7 and 0 both mean Sunday
    day_restricted = not expression.split()[2] == "*"
    weekday_restricted = not expression.split()[4] == "*"
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(SEARCH_DAYS):
        if day.month in months and _day_matches(day, days, weekdays, day_restricted, weekday_restricted):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    return None


def _day_matches(
    day: datetime, days: Set[int], weekdays: Set[int], day_restricted: bool, weekday_restricted: bool
) -> bool:
    in_month = day.day in days
    in_week = (day.isoweekday() % 7) in weekdays
    if day_restricted and weekday_restricted:
        return in_month or in_week  # cron's rule: either field may match
    return in_month and in_week


def parse_expression(expression: str) -> List[Set[int]]:
    """The five fields as sets of values; ``ValueError`` when malformed."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields: {expression!r}")
    return [parse_field(text, low, high) for text, (low, high) in zip(fields, FIELD_RANGES)]


def parse_field(text: str, low: int, high: int) -> Set[int]:
    values: Set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(value) for value in base.split("-", 1))
        else:
            first = int(base)
            last = high if step_text else first
        if step < 1 or first < low or last > high or first > last:
            raise ValueError(f"cron field out of range: {part!r}")
        values.update(range(first, last + 1, step))
    return values
