"""A key's usage graph: requests per day by operation over the last 30 days (the key detail
page's Audit tab), read with one GROUP BY query and drawn as a stacked bar chart.

The drawing is computed here (bar positions and heights in SVG user units) so that the
template only writes the numbers into <rect> elements: no JavaScript, no chart library, and the
same numbers go into the chart's visually hidden table for screen readers.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import AuditEvent

USAGE_DAYS = 30
# Operations drawn in their own colour; the rest are summed as "Other operations".
SERIES_COLOURS = ["#006ce0", "#00802f", "#855900", "#db0000", "#7d3cb5", "#0f7b8a", "#c33d69"]
OTHER_COLOUR = "#656871"
OTHER = "Other operations"

# Chart geometry in SVG user units (the SVG scales to the container's width).
WIDTH, HEIGHT = 720, 240
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 48, 712, 12, 208


@dataclass
class Series:
    """One operation's requests per day (oldest day first)."""

    name: str
    colour: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass
class KeyUsage:
    """Requests per day by operation for `days` (oldest first, UTC days)."""

    days: list[datetime.date]
    series: list[Series]
    totals: list[int] = field(init=False)

    def __post_init__(self):
        self.totals = [sum(s.counts[i] for s in self.series) for i in range(len(self.days))]

    @property
    def total(self) -> int:
        return sum(self.totals)

    def rows(self) -> list[dict]:
        """Day by day, the counts of every series and the day's total (the hidden table)."""
        return [{"day": day, "counts": [s.counts[i] for s in self.series],
                 "total": self.totals[i]} for i, day in enumerate(self.days)]

    def chart(self) -> dict:
        """The stacked bars, y-axis ticks and x-axis labels, in SVG user units."""
        top = _axis_top(max(self.totals, default=0))
        plot_height = PLOT_BOTTOM - PLOT_TOP
        slot = (PLOT_RIGHT - PLOT_LEFT) / max(1, len(self.days))
        bars = []
        for i, day in enumerate(self.days):
            y, segments = PLOT_BOTTOM, []
            for s in self.series:
                count = s.counts[i]
                if not count:
                    continue
                height = count / top * plot_height
                y -= height
                segments.append({"y": round(y, 2), "height": round(height, 2),
                                 "colour": s.colour, "name": s.name, "count": count})
            bars.append({"x": round(PLOT_LEFT + i * slot + slot * 0.15, 2),
                         "width": round(slot * 0.7, 2), "day": day, "segments": segments,
                         "label_x": round(PLOT_LEFT + i * slot + slot / 2, 2),
                         "labelled": i % 5 == 0 or i == len(self.days) - 1})
        ticks = [{"value": value, "y": round(PLOT_BOTTOM - value / top * plot_height, 2)}
                 for value in (0, top // 2, top)]
        return {"width": WIDTH, "height": HEIGHT, "left": PLOT_LEFT, "right": PLOT_RIGHT,
                "top": PLOT_TOP, "bottom": PLOT_BOTTOM, "label_y": PLOT_BOTTOM + 18,
                "bars": bars, "ticks": ticks}


def _axis_top(highest: int) -> int:
    """A round, even number at or above the highest bar (so the middle tick is whole)."""
    if highest <= 2:
        return 2
    magnitude = 10 ** (len(str(highest)) - 1)
    steps = (1, 2, 4, 5, 10) if magnitude >= 10 else (2, 4, 6, 8, 10)
    return next(step * magnitude for step in steps if step * magnitude >= highest)


def key_usage(*, account_id: str, key_id: str, days: int = USAGE_DAYS,
              today: datetime.date | None = None) -> KeyUsage:
    """Requests per day by operation on the key for the last `days` UTC days, today included:
    every request recorded with this key as its key (successful, failed or denied)."""
    today = today or timezone.now().date()
    first_day = today - datetime.timedelta(days=days - 1)
    since = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=datetime.UTC)
    counted = (AuditEvent.objects
               .filter(recipient_account_id=account_id, key_id=key_id, event_time__gte=since)
               .annotate(day=TruncDate("event_time", tzinfo=datetime.UTC))
               .values("day", "event_name")
               .annotate(requests=Count("id"))
               .order_by())
    day_list = [first_day + datetime.timedelta(days=n) for n in range(days)]
    index = {day: n for n, day in enumerate(day_list)}
    per_operation: dict[str, list[int]] = {}
    for row in counted:
        if row["day"] not in index:  # an event stamped in the future (clock skew): not drawn
            continue
        counts = per_operation.setdefault(row["event_name"], [0] * days)
        counts[index[row["day"]]] += row["requests"]
    return KeyUsage(days=day_list, series=_series(per_operation, days))


def _series(per_operation: dict[str, list[int]], days: int) -> list[Series]:
    """The busiest operations first, each in its colour; beyond the palette, one "Other"."""
    ranked = sorted(per_operation.items(), key=lambda item: (-sum(item[1]), item[0]))
    shown = [Series(name, colour, counts)
             for (name, counts), colour in zip(ranked, SERIES_COLOURS, strict=False)]
    rest = ranked[len(SERIES_COLOURS):]
    if rest:
        shown.append(Series(OTHER, OTHER_COLOUR,
                            [sum(counts[i] for _, counts in rest) for i in range(days)]))
    return shown
