"""The report's dates ahead as an iCalendar file (RFC 5545), for a reviewer's calendar.

Each date ahead of each facility the report details is an all-day event: what happens, the
clause, and the audit-log event it rests on. An event's UID is made from the facility, what
happens, the covenant and the day, not from the report: the same date in next week's report
replaces this week's in a calendar that imports both, rather than standing twice.
icalendar writes the text (its escaping and its lines folded at 75 octets); events are
written one at a time, so a book's calendar is never whole in memory.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO

from icalendar import Calendar, Event

from .text import ahead_brief

PRODID = "-//covenant-monitor//dates ahead//EN"


def to_ics(model: dict[str, Any], out: BinaryIO) -> None:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if horizon := model["horizon"]:
        name = f"Covenant dates ahead, {horizon['after']} through {horizon['through']}"
        calendar.add("x-wr-calname", name)
    begin, end = calendar.to_ical().split(b"END:VCALENDAR")
    out.write(begin)
    stamp = datetime.now(UTC)
    for a in model["agreements"]:
        for item in a["dates_ahead"]:
            out.write(_event(a, item, stamp).to_ical())
    out.write(b"END:VCALENDAR" + end)


def _event(a: dict[str, Any], item: dict[str, Any], stamp: datetime) -> Event:
    day = date.fromisoformat(item["date"])
    facility = a["agreement"]
    named = a["facility_name"] or a["borrower"] or facility
    # a notice's reason tells two notices of one covenant due the same day apart
    key = (facility, item["kind"], item["covenant"], item["date"], item.get("reason") or "")
    event = Event()
    event.add("uid", hashlib.sha256("|".join(key).encode()).hexdigest()[:32] + "@covenant-monitor")
    event.add("dtstamp", stamp)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", f"{facility} {item['covenant']}: {ahead_brief(item)}")
    lines = [
        f"{named}: {item['covenant']} {item['title'] or ''}".rstrip(),
        item["text"],
        item["clause"] or "",
        f"Audit-log event {item['seq']} (covenant-monitor log).",
    ]
    event.add("description", "\n".join(line for line in lines if line))
    event.add("categories", [item["kind"].replace("_", " ")])
    return event
