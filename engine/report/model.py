"""The report model: what a reviewer needs, built from audit-log events alone.

`build` keeps the events that had happened on the report's date (each counts from the day it
took effect: a waiver from its Effective Date, an Event of Default from the day grace ran out)
and turns them into plain JSON-ready data that every format renders the same way. Every entry
carries the sequence numbers of the events it rests on.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from .. import processes
from ..audit import StoredEvent
from ..ledger import ACCELERATION, IN_CASH
from ..rules import payment_dates
from ..values import FiscalQuarter
from .shelf import Shelf, Shelved
from .text import AHEAD, ahead_words, describe, headroom_share, restatement

THIN_HEADROOM_PERCENT = Decimal(10)
QUARTERS_AHEAD = 2  # step-ups are looked for at this many coming quarter-ends

# A breach's state on the report's date, most serious first, and how it reads.
STATUS_WORDS = {
    "event_of_default": "event of default",
    "in_grace": "default (in grace)",
    "default": "default",
    "breach": "breach",
    "below_minimum": "below minimum",
    "above_maximum": "above the cap",
    "accelerated": "accelerated (Revolving Loan Reduction)",
    "suspended": "breach suspended",
    "waived": "breach waived",
    "compliant": "compliant",
    "no_breach_reported": "no breach reported",
    "not_tested": "not tested",
}
IN_BREACH = frozenset({"event_of_default", "in_grace", "default", "breach", "below_minimum"})
OPEN_DEFAULT = frozenset({"event_of_default", "in_grace", "default"})
_TERMS = ("agreement_terms", "covenant_terms", "interest_terms")
# The ledger of the Notes (Section 4.1): reported per Note, not as a covenant.
LEDGER = (
    "interest_payment",
    "initial_amount_accelerated",
    "payment_postponed",
    "blockage_settlement",
    "payment_applied",
)


def build(
    events: list[StoredEvent],
    state_on: date | None = None,
    thin_percent: Decimal = THIN_HEADROOM_PERCENT,
    compare_to: date | None = None,
) -> dict[str, Any]:
    """The model of the report on `state_on` (default: the latest run's as-of date), every
    facility in full; with `compare_to`, beside the state on that earlier date."""
    by_agreement: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_agreement[event.agreement].append(event)
    latest_run = max((e.as_of for e in events), default=None)
    return build_by_facility(
        sorted(by_agreement),
        lambda names: ((name, by_agreement[name]) for name in names),
        latest_run,
        state_on,
        thin_percent,
        compare_to=compare_to,
    )


Views = Callable[[list[str]], Iterable[tuple[str, list[StoredEvent]]]]  # views(names)


def build_by_facility(
    names: list[str],
    views: Views,
    latest_run: date | None,
    state_on: date | None = None,
    thin_percent: Decimal = THIN_HEADROOM_PERCENT,
    detail: str = "all",
    shelf: Shelf | None = None,
    workers: int = 1,
    tick: Callable[[int, int], None] | None = None,
    compare_to: date | None = None,
) -> dict[str, Any]:
    """The model built one facility at a time: `views(names)` gives those facilities' events
    in turn (it may read them from the log). With `detail` "attention", only the facilities
    the portfolio view shows needing attention keep their sections and their events in the
    appendix: a book of thousands stays a readable report. With a `shelf`, those sections and
    events wait there, not in memory, until the report is written: only the portfolio's rows
    are held, a few hundred bytes a facility. With several `workers`, facilities are read and
    modelled in that many processes, a few chunks ahead of the one taking them in (reading
    and modelling were four fifths of a book's Markdown report). `tick(done, total)` is told
    of each facility taken in. With `compare_to`, an earlier date, each facility's status and
    each covenant's on that date stand beside those on the report's date."""
    day = state_on or latest_run
    horizon = _horizon(day) if day else None
    rows: list[dict[str, Any]] = []
    agreements: list | Shelved = shelf.sequence() if shelf else []
    appendix: list | Shelved = shelf.sequence(key=_seq, group=_facility) if shelf else []
    shown = read = done = 0
    first = last = None
    facts = (views, day, horizon, thin_percent, detail, compare_to)
    for part in _parts(names, facts, workers):
        read += part.read
        done += 1
        if tick is not None:
            tick(done, len(names))
        if part.row is None:
            continue
        rows.append(part.row)
        shown += part.used
        first = min(first or part.first, part.first)
        last = max(last or part.last, part.last)
        if part.model is not None:
            agreements.append(part.model)
            appendix.extend(part.appendix)
    rows.sort(key=_portfolio_order)
    return {
        "state_on": day.isoformat() if day else None,
        "as_of_given": state_on is not None,
        "latest_run_as_of": latest_run.isoformat() if latest_run else None,
        "thin_headroom_percent": str(thin_percent),
        "horizon": {"after": day.isoformat(), "through": horizon.isoformat()} if day else None,
        "generated_from": {
            "events": shown,
            "log_events": read,
            "first_seq": first,
            "last_seq": last,
        },
        "agreements": agreements,
        "portfolio": rows,
        "by_status": _by_status(rows, compare_to is not None),
        "compared_to": compare_to.isoformat() if compare_to else None,
        # how many facilities' status is worse, better, the same or new since `compared_to`
        "changes": dict(Counter(r["change"] for r in rows)) if compare_to else None,
        "detail": detail,
        "not_detailed": len(rows) - len(agreements),
        "events": appendix if shelf else sorted(appendix, key=_seq),
    }


@dataclass
class _Part:
    """What one facility adds to a report: how many of its events the log holds, how many the
    report rests on (`used`, the first and last seq), its portfolio row (None: nothing by the
    report's date) and, if detailed, its sections and appendix rows."""

    read: int
    used: int = 0
    first: int = 0
    last: int = 0
    row: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    appendix: list[dict[str, Any]] = field(default_factory=list)


# What the parts of a report are made from: views, the report's date and horizon, the thin
# headroom, the detail, the date compared to; set while forked workers make them.
_Facts = tuple[Views, date | None, date | None, Decimal, str, date | None]
_MAKING: _Facts | None = None
_AHEAD = 4  # chunks made ahead for each process: only those wait in memory


def _parts(names: list[str], facts: _Facts, workers: int) -> Iterator[_Part]:
    """Each facility's part, in order; with several workers, made a chunk at a time in that
    many processes forked with `facts` in hand."""
    if workers <= 1 or len(names) < 2:
        yield from _parts_of(facts, names)
        return
    global _MAKING
    size = processes.chunk_size(len(names), workers)
    chunks = (names[i : i + size] for i in range(0, len(names), size))
    _MAKING = facts
    try:
        with processes.pool(workers) as pool:
            ahead: deque[Future[list[_Part]]] = deque()
            for chunk in chunks:
                ahead.append(pool.submit(_made, chunk))
                if len(ahead) >= _AHEAD * workers:
                    yield from ahead.popleft().result()
            while ahead:
                yield from ahead.popleft().result()
    finally:
        _MAKING = None


def _made(chunk: list[str]) -> list[_Part]:
    assert _MAKING is not None
    return list(_parts_of(_MAKING, chunk))


def _parts_of(facts: _Facts, names: list[str]) -> Iterator[_Part]:
    views, day, horizon, thin_percent, detail, then = facts
    for name, events in views(names):
        used = _used(events, day) if day else []
        if not used:
            yield _Part(len(events))
            continue
        model = _Agreement(name, used, day, horizon, thin_percent).model()
        _compared(model, events, then, thin_percent)
        row = portfolio_row(model)
        row["detailed"] = detail == "all" or _needs_attention(row) or _moved(row)
        yield _Part(
            len(events),
            len(used),
            used[0].seq,
            used[-1].seq,
            row,
            model if row["detailed"] else None,
            [_appendix_row(e) for e in used] if row["detailed"] else [],
        )


def _seq(row: dict[str, Any]) -> int:
    return row["seq"]


def _facility(row: dict[str, Any]) -> str:
    return row["agreement"]


def _appendix_row(e: StoredEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "run": e.run,
        "run_as_of": e.as_of.isoformat(),
        "date": e.date.isoformat(),
        "event": e.event,
        "agreement": e.agreement,
        "covenant": e.covenant,
        "summary": describe(e),
        "clause": e.details.get("clause"),
    }


_SEVERITY = {status: rank for rank, status in enumerate(STATUS_WORDS)}


def _compared(
    model: dict[str, Any], events: list[StoredEvent], then: date | None, thin_percent: Decimal
) -> None:
    """Beside the facility's state on the report's date, its state on the earlier date `then`
    (`report --compare-to`), from the same view of the log: each covenant's status then
    (`status_before`; in words with its open defaults, `status_before_text`; None where nothing
    was recorded for it by then) and, in `before`, the facility's status then, the covenants
    whose status changed and the breaches since. A covenant compliant again at its latest
    test may still carry the default it led to, and one in default may have breached again:
    its status alone would hide both."""
    earlier = None
    if then is not None and (used := _used(events, then)):
        earlier = _Agreement(model["agreement"], used, then, _horizon(then), thin_percent).model()
    statuses = {c["section"]: c for c in earlier["covenants"]} if earlier else {}
    for c in model["covenants"]:
        was = statuses.get(c["section"], {})
        c["status_before"] = was.get("status")
        c["status_before_text"] = was.get("status_text")
    if then is None:
        model["before"] = None
        return
    model["before"] = {
        "date": then.isoformat(),
        "status": _worst(earlier) if earlier else None,
        "ended": earlier["ended"]["date"] if earlier and earlier["ended"] else None,
        "changed": [
            {
                "covenant": c["section"],
                "title": c["title"],
                "then": c["status_before_text"],
                "now": c["status_text"],
                "seq": c["latest_test"]["seq"] if c["latest_test"] else None,
            }
            for c in model["covenants"]
            if c["status_before_text"] != c["status_text"]
        ],
        "breaches": [
            {k: life[k] for k in ("covenant", "title", "breach_date", "breach_seq", "status_text")}
            for life in model["lifecycles"]
            if life["breach_date"] > then.isoformat()
        ],
    }


def _worst(a: dict[str, Any]) -> str:
    """A facility's most serious status: a covenant compliant at its latest test may still
    carry an open default."""
    statuses = [c["status"] for c in a["covenants"]] + [
        life["status"] for life in a["open_defaults"]
    ]
    return min(statuses or ["not_tested"], key=_SEVERITY.__getitem__)


def _status_label(status: str, ended: str | None) -> str:
    return STATUS_WORDS[status] + (f"; monitoring ended {ended}" if ended else "")


def _change(then: str | None, now: str) -> str:
    """How a facility's status moved since the date compared to: "new" where nothing was
    tested by then (no status then, or one after compliant: no breach reported, not tested),
    else "worse", "better" or "same" by the order of STATUS_WORDS."""
    if then is None or _SEVERITY[then] > _SEVERITY["compliant"]:
        return "same" if now == then else "new"
    if now == then:
        return "same"
    return "worse" if _SEVERITY[now] < _SEVERITY[then] else "better"


def portfolio_row(a: dict[str, Any]) -> dict[str, Any]:
    """A facility's row of the portfolio view, from its model."""
    worst = _worst(a)
    before = a["before"]
    nearest = min(
        (
            {"covenant": c["section"], "title": c["title"], **t}
            for c in a["covenants"]
            if c["status"] == "compliant"
            and (t := c["latest_test"])
            and t["headroom_percent"] is not None
        ),
        key=headroom_share,
        default=None,
    )
    s = a["summary"]
    # Its first coming step-up that the latest figures fall short of: compliant today, in
    # breach then unless they improve, the nearest breach a compliant facility has.
    short = min(
        (u for u in s["step_ups"] if u["improvement_needed"] not in (None, "0")),
        key=lambda u: (u["takes_effect"], _section_key(u["covenant"])),
        default=None,
    )
    grace_ends = min(
        filter(None, (life["grace_ends"] for life in a["open_defaults"])), default=None
    )
    tested = [c for c in a["covenants"] if c["latest_test"]]
    quarterly = [c for c in tested if c["test"] == "fiscal_quarter_end"]
    ended = a["ended"]["date"] if a["ended"] else None
    return {
        "facility": a["agreement"],
        "name": a["facility_name"] or a["borrower"],
        "package": a["package"],
        "status": worst,
        "status_label": _status_label(worst, ended)
        + (f" until {grace_ends}" if worst == "in_grace" and grace_ends else ""),
        # the first day one of its Defaults in grace is an Event of Default, unless cured
        "grace_ends": grace_ends,
        "ended": ended,
        # on the date compared to (report --compare-to); None when not comparing
        "status_before": before and before["status"],
        "status_before_label": _status_label(before["status"], before["ended"])
        if before and before["status"]
        else None,
        "ended_before": before and before["ended"],
        "change": _change(before["status"], worst) if before else None,
        "in_breach": s["in_breach"],
        "open_defaults": s["open_defaults"],
        "events_of_default": s["events_of_default"],
        "amounts_due": len(a["amounts_due"]),
        # not known to be paid: unpaid by the report's date, or payments not tracked
        "amounts_unpaid": sum(
            1 for x in a["amounts_due"] if x["unpaid"] is None or Decimal(x["unpaid"])
        ),
        "unpaid": s["amounts_unpaid_total"],  # None where payments are not tracked
        "nearest": nearest,
        "step_up_short": {k: short[k] for k in _SHORT} if short else None,
        # its latest quarter-end test by the report's date (of any test, if it has none): a
        # facility behind the book has not delivered its financials, or its folder is gone (a
        # run names those). A revolver reported monthly does not hide overdue financials.
        "tested_through": max(
            (c["latest_test"]["date"] for c in quarterly or tested), default=None
        ),
    }


_AHEAD_ORDER = {kind: n for n, kind in enumerate(AHEAD)}  # of the dates ahead of one day
# What a step-up in the dates ahead says.
_STEP = (
    "unit",
    "breach_when",
    "from_minimum",
    "to_minimum",
    "plus",
    "plus_value",
    "latest",
    "improvement_needed",
)
_SHORT = (
    "covenant",
    "title",
    "unit",
    "breach_when",
    "takes_effect",
    "required",
    "improvement_needed",
)


def _by_status(rows: list[dict[str, Any]], comparing: bool) -> list[dict[str, Any]]:
    """How many facilities stand at each status, the most serious first, and how many are no
    longer monitored: a book at a glance; `comparing`, how many stood at each on the date
    compared to (those with nothing recorded by then are at none)."""
    counts = Counter("monitoring_ended" if r["ended"] else r["status"] for r in rows)
    then = Counter(
        "monitoring_ended" if r["ended_before"] else r["status_before"]
        for r in rows
        if r["status_before"] is not None
    )
    words = {**STATUS_WORDS, "monitoring_ended": "monitoring ended"}
    return [
        {
            "status": status,
            "label": label,
            "facilities": counts[status],
            **({"facilities_before": then[status]} if comparing else {}),
        }
        for status, label in words.items()
        if counts[status] or then[status]
    ]


def _portfolio_order(r: dict[str, Any]) -> tuple:
    return (
        r["ended"] is not None,  # after those still monitored
        _SEVERITY[r["status"]],
        # a Default in grace: the one nearest an Event of Default first
        r["grace_ends"] or "9999-12-31",
        r["step_up_short"] is None,  # short of a coming step-up: nearer a breach than any
        headroom_share(r["nearest"]) if r["nearest"] else Decimal("Infinity"),
        r["facility"],
    )


def _needs_attention(row: dict[str, Any]) -> bool:
    """Anything but a clean bill (a status other than compliant, an open default, an amount
    due not known to be paid, a coming step-up its latest figures fall short of) in a facility
    still monitored."""
    clean = row["status"] == "compliant" and not (
        row["open_defaults"] or row["amounts_unpaid"] or row["step_up_short"]
    )
    return row["ended"] is None and not clean


def _moved(row: dict[str, Any]) -> bool:
    """Worse or better since the date compared to, in a facility still monitored: a review of
    what changed wants to see why, a waiver that made it compliant as much as a breach."""
    return row["ended"] is None and row["change"] in ("worse", "better")


def _used(events: list[StoredEvent], day: date) -> list[StoredEvent]:
    """Events in effect on `day`, and only the latest recorded version of each set of terms."""
    latest_terms = {(e.event, e.agreement, e.covenant): e.seq for e in events if e.event in _TERMS}
    kept = []
    for e in events:
        if e.event in _TERMS:
            if latest_terms[(e.event, e.agreement, e.covenant)] == e.seq:
                kept.append(e)
        elif e.event == "waived":
            if date.fromisoformat(e.details["effective_date"]) <= day:
                kept.append(e)
        elif e.date <= day:
            kept.append(e)
    return kept


def _horizon(day: date) -> date:
    """The last of the next QUARTERS_AHEAD quarter-ends after `day`, or of those there are
    before the last date a `date` can hold (9999-12-31, itself a quarter-end)."""
    quarter = FiscalQuarter.of(day)
    ends = 0
    while True:
        end = quarter.nominal_end
        if end > day:
            ends += 1
        if ends == QUARTERS_AHEAD or end == date.max:
            return end
        quarter = quarter.next()


def _unpaid(position: dict[str, Any]) -> dict[str, str] | None:
    """What a Note's holder is owed and has not been paid on the position's date: amounts
    overdue, amounts falling due that day, and Default Rate interest on those overdue, with
    their sum. None where payments are not tracked, since nothing is known to be unpaid."""
    if position.get("unpaid_total") is None:
        return None
    unpaid = Decimal(position["unpaid_total"])
    overdue = sum((Decimal(o["unpaid"]) for o in position["overdue"] or ()), Decimal(0))
    interest = Decimal(position["default_rate_interest_total"])
    return {
        "overdue": str(overdue),
        "due_that_day": str(unpaid - overdue),
        "default_rate_interest": str(interest),
        "total": str(unpaid + interest),
    }


CENT = Decimal("0.01")


def _amounts_unpaid_total(amounts: list[dict[str, Any]]) -> str | None:
    """What the amounts due leave unpaid by the report's date; None where no payment is
    tracked."""
    known = [Decimal(a["unpaid"]) for a in amounts if a["unpaid"] is not None]
    return str(sum(known, Decimal(0))) if known else None


def _unpaid_in_all(notes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the Notes' holders have not been paid, together, on the latest positions' date,
    citing each position; None where no Note's payments are tracked."""
    positions = [n["position"] for n in notes if n["position"] and n["position"]["unpaid"]]
    if not positions:
        return None
    keys = ("overdue", "due_that_day", "default_rate_interest", "total")
    return {
        "date": max(p["date"] for p in positions),
        **{k: str(sum((Decimal(p["unpaid"][k]) for p in positions), Decimal(0))) for k in keys},
        "seqs": [p["seq"] for p in positions],
    }


def _seq_row(event: StoredEvent, *keys: str) -> dict[str, Any]:
    row = {"seq": event.seq, "date": event.date.isoformat(), "covenant": event.covenant}
    row.update({k: event.details.get(k) for k in keys})
    return row


@dataclass
class _Lifecycle:
    """One breach (or Revolving Loan Reduction) and what followed it, as of the report's date."""

    covenant: str
    breach: StoredEvent
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str = "breach"
    status_note: str = ""
    default: StoredEvent | None = None  # the Default, while it is in its grace period

    def model(self) -> dict[str, Any]:
        d = self.breach.details
        return {
            "covenant": self.covenant,
            "title": d.get("title"),
            "breach_date": self.breach.date.isoformat(),
            "breach_seq": self.breach.seq,
            "kind": self.breach.event,
            "period": d.get("period"),
            "value": d.get("value"),
            "threshold": d.get("threshold"),
            "headroom": d.get("headroom"),
            "unit": d.get("unit"),
            "clause": d.get("clause"),
            "reported_by": d.get("reported_by"),
            "note": d.get("note"),
            "status": self.status,
            "status_label": STATUS_WORDS[self.status],
            "status_note": self.status_note,
            "status_text": STATUS_WORDS[self.status]
            + (f", {self.status_note}" if self.status_note else ""),
            # in its grace period: the day it is an Event of Default unless cured or waived
            "grace_ends": self.default.details["event_of_default_on"] if self.default else None,
            "steps": sorted(self.steps, key=lambda s: (s["date"], s["seq"])),
        }


def _step(event: StoredEvent, day: date | str, text: str) -> dict[str, Any]:
    when = day if isinstance(day, str) else day.isoformat()
    return {"date": when, "event": event.event, "seq": event.seq, "text": text}


class _Agreement:
    def __init__(
        self,
        name: str,
        events: list[StoredEvent],
        day: date,
        horizon: date,
        thin_percent: Decimal,
    ):
        self.name, self.day = name, day
        self.horizon, self.thin_percent = horizon, thin_percent
        self.kinds: dict[str, list[StoredEvent]] = defaultdict(list)
        self.by_covenant: dict[str, list[StoredEvent]] = defaultdict(list)
        interest = {e.covenant for e in events if e.event == "interest_terms"}
        for event in events:
            self.kinds[event.event].append(event)
            if event.covenant and event.covenant not in interest:
                self.by_covenant[event.covenant].append(event)
        self.titles = {
            e.covenant: e.details.get("title")
            for kind in ("covenant_terms", "interest_terms")
            for e in self.kinds[kind]
        }
        self.lifecycles = self._lifecycles()
        # The breach (or Revolving Loan Reduction) event each failed test led to, by its key.
        self.breach_seqs = {key: life.breach.seq for key, life in self.lifecycles.items()}

    def _lifecycles(self) -> dict[tuple[str, str], _Lifecycle]:
        found: dict[tuple[str, str], _Lifecycle] = {}
        for event in self.kinds["breach"] + self.kinds["revolving_loan_reduction"]:
            life = _Lifecycle(event.covenant or "", event)
            if event.event == "breach":
                life.steps.append(_step(event, event.date, "breach"))
            else:
                life.status = "accelerated"
                life.steps.append(_step(event, event.date, "Revolving Loan Reduction first occurs"))
            found[(life.covenant, event.date.isoformat())] = life
        by_breach: dict[tuple[str, str], dict[str, StoredEvent]] = defaultdict(dict)
        for kind in ("default", "event_of_default", "waived", "suspended"):
            for event in self.kinds[kind]:
                breach_date = event.details.get("breach_date", event.date.isoformat())
                by_breach[(event.covenant or "", breach_date)][kind] = event
        reinstated: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in self.kinds["reinstatement_date"]:
            reinstated[event.covenant or ""].append(event)
        for key, life in found.items():
            done = by_breach.get(key, {})
            if default := done.get("default"):
                life.status = "default"
                life.steps.append(
                    _step(default, default.date, f"default: {default.details.get('reason')}")
                )
                eod_on = default.details.get("event_of_default_on")
                if eod_on and date.fromisoformat(eod_on) > self.day:
                    life.status, life.status_note = "in_grace", f"until {eod_on}"
                    life.default = default
            if eod := done.get("event_of_default"):
                life.status = "event_of_default"
                grace = eod.details.get("grace_days")
                life.steps.append(_step(eod, eod.date, f"event of default ({grace} days' grace)"))
            if suspended := done.get("suspended"):
                life.status = "suspended"
                d = suspended.details
                life.steps.append(
                    _step(
                        suspended,
                        suspended.date,
                        f"suspended: within the suspension by {d.get('instrument')} "
                        f"from {d.get('suspended_from')}",
                    )
                )
                after = [r for r in reinstated[life.covenant] if r.date >= life.breach.date]
                if after:
                    first = min(after, key=lambda r: r.date)
                    life.status_note = f"covenant in full force again after {first.date}"
                    life.steps.append(
                        _step(
                            first,
                            first.date,
                            f"Reinstatement Date ({first.details.get('trigger')}); the "
                            "covenant is in full force again after it",
                        )
                    )
            if waived := done.get("waived"):
                life.status = "waived"
                effective = waived.details.get("effective_date")
                life.steps.append(
                    _step(waived, effective, f"waived by {waived.details.get('instrument')}")
                )
            if life.breach.event == "revolving_loan_reduction":
                for event in self.kinds["notice_required"] + self.kinds["amount_due"]:
                    if event.covenant == life.covenant and event.date == life.breach.date:
                        life.steps.append(_step(event, event.date, describe(event)))
        return found

    def _terms(self, covenant: str | None) -> StoredEvent | None:
        kind = "covenant_terms" if covenant else "agreement_terms"
        return next((e for e in self.kinds[kind] if e.covenant == covenant), None)

    def model(self) -> dict[str, Any]:
        agreement = self._terms(None)
        covenants = [self._covenant(section) for section in self._sections()]
        lifecycles = [life.model() for life in self.lifecycles.values()]
        lifecycles.sort(key=lambda life: (life["breach_date"], _section_key(life["covenant"])))
        open_defaults = [life for life in lifecycles if life["status"] in OPEN_DEFAULT]
        amounts = [
            _seq_row(
                e,
                "holder",
                "amount",
                "what",
                "principal",
                "interest",
                "due_date",
                "days",
                "day_count",
                "clause",
            )
            for e in sorted(self.kinds["amount_due"], key=lambda e: (e.date, e.seq))
        ]
        for row in amounts:
            row["what"] = row["what"] or ACCELERATION
        notices = [
            _seq_row(e, "deadline", "payment_date", "given_on", "timely", "to", "reason", "clause")
            for e in sorted(
                self.kinds["notice_required"], key=lambda e: (e.details["deadline"], e.seq)
            )
        ]
        for n in notices:  # a notice a later run saw given is not given yet on the date
            if n["given_on"] and _day(n["given_on"]) > self.day:
                n["given_on"] = n["timely"] = None
        notes = self._notes_ledger()
        self._paid_against(amounts, notes)
        buckets = defaultdict(int)
        for c in covenants:
            buckets[c["bucket"]] += 1
        endings = self.kinds["monitoring_ended"]
        ended = _seq_row(max(endings, key=lambda e: e.seq), "reason") if endings else None
        step_ups = [] if ended else [up for c in covenants for up in self._step_ups(c)]
        return {
            "agreement": self.name,
            "facility_name": agreement.details.get("facility_name") if agreement else None,
            "package": agreement.details.get("package", self.name) if agreement else None,
            "title": agreement.details.get("title") if agreement else None,
            "borrower": agreement.details.get("borrower") if agreement else None,
            "lenders": agreement.details.get("lenders") if agreement else [],
            # the columns of financials.csv its agreement defines, each with its clause
            "figures": agreement.details.get("figures", []) if agreement else [],
            "dated": agreement.details.get("dated") if agreement else None,
            "terms_seq": agreement.seq if agreement else None,
            "ended": ended,  # monitoring ended by the report's date: nothing is tested after
            "summary": {
                "covenants": len(covenants),
                "compliant": buckets["compliant"],
                "in_breach": buckets["in_breach"],
                "other": buckets["other"],
                "open_defaults": len(open_defaults),
                "events_of_default": sum(
                    1 for life in open_defaults if life["status"] == "event_of_default"
                ),
                "amounts_due_total": str(sum((Decimal(a["amount"]) for a in amounts), Decimal(0))),
                # by the report's date, where the Notes' payments are tracked
                "amounts_unpaid_total": _amounts_unpaid_total(amounts),
                "unpaid": _unpaid_in_all(notes),
                "thin_headroom": [w for c in covenants if (w := self._thin(c))],
                "step_ups": step_ups,
            },
            "covenants": covenants,
            # what falls due, ends or takes effect from the report's date through the horizon
            "dates_ahead": [] if ended else self._dates_ahead(step_ups, notices),
            "lifecycles": lifecycles,
            "open_defaults": open_defaults,
            "amounts_due": amounts,
            "notices_owed": notices,
            "notes_ledger": notes,
            "pik_blocked": [
                _seq_row(e, "payment_date", "reason", "clause") for e in self.kinds["pik_blocked"]
            ],
            "instruments": [
                _seq_row(e, "instrument", "title", "document", "conditions_satisfied")
                for e in self.kinds["instrument_effective"]
            ],
            "waivers_pending": [
                _seq_row(e, "instrument", "reason", "clause") for e in self.kinds["waiver_pending"]
            ],
            "suspensions": [
                _seq_row(e, "instrument", "suspended_from", "until_earlier_of", "clause")
                for e in self.kinds["covenant_suspended"]
            ],
            "reinstatement_dates": [
                _seq_row(e, "instrument", "trigger", "clause")
                for e in self.kinds["reinstatement_date"]
            ],
            "data_missing": [_seq_row(e, "message") for e in self.kinds["data_missing"]],
            "restatements": [
                {**_seq_row(e, "changes", "withdrawn", "replaced"), "text": restatement(e.details)}
                for e in self.kinds["restatement"]
            ],
        }

    def _dates_ahead(
        self,
        step_ups: list[dict[str, Any]],
        notices: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The calendar a reviewer works to, from the report's date through the horizon:
        interest payment dates and maturity, grace periods running out, notice deadlines,
        limits that tighten and suspensions that end at the latest, each with the clause and
        the event it rests on. (An amount due is recorded on the day it falls due: the
        amounts due say what is unpaid.)"""
        found: list[dict[str, Any]] = []

        def add(day: str | date, kind: str, covenant: str | None, seq: int, **item: Any) -> None:
            if self.day <= _day(day) <= self.horizon:
                title = self.titles.get(covenant)
                found.append(
                    {"date": str(day), "kind": kind, "covenant": covenant, "title": title}
                    | item
                    | {"seq": seq}
                )

        for terms in self.kinds["interest_terms"]:
            d, section = terms.details, terms.covenant
            pay, maturity = d["payment_dates"], date.fromisoformat(d["maturity"])
            semi_annual = tuple(date.fromisoformat(x) for x in pay["semi_annual"])
            for day in payment_dates(semi_annual, _day(pay["monthly_from"]), maturity):
                add(day, "interest_payment", section, terms.seq, clause=pay["source"])
            add(maturity, "maturity", section, terms.seq, clause=d.get("maturity_source"))
        for life in self.lifecycles.values():
            if (default := life.default) is not None:
                d = default.details
                add(
                    d["event_of_default_on"],
                    "grace_ends",
                    life.covenant,
                    default.seq,
                    breach_date=life.breach.date.isoformat(),
                    grace_days=d.get("grace_days"),
                    clause=d.get("clause"),
                )
        for n in notices:
            if not n["given_on"]:
                add(
                    n["deadline"],
                    "notice_deadline",
                    n["covenant"],
                    n["seq"],
                    to=n["to"],
                    reason=n["reason"],
                    clause=n["clause"],
                )
        for up in step_ups:
            add(
                up["takes_effect"],
                "step_up",
                up["covenant"],
                up["terms_seq"],
                **{k: up[k] for k in _STEP},
                clause=up["source"],
            )
        for event in self.kinds["covenant_suspended"]:
            d = event.details
            ends = [x for x in d.get("until_earlier_of") or () if _is_date(x)]
            reinstated = any(
                r.covenant == event.covenant and r.date >= event.date
                for r in self.kinds["reinstatement_date"]
            )
            if ends and not reinstated:
                add(
                    min(ends),
                    "suspension_ends",
                    event.covenant,
                    event.seq,
                    instrument=d.get("instrument"),
                    until_earlier_of=d.get("until_earlier_of"),
                    clause=d.get("clause"),
                )
        found.sort(key=lambda x: (x["date"], _AHEAD_ORDER[x["kind"]], _section_key(x["covenant"])))
        for item in found:
            item["text"] = ahead_words(item)
        return found

    def _paid_against(self, amounts: list[dict[str, Any]], notes: list[dict[str, Any]]) -> None:
        """Each amount due's `paid` and `unpaid` by the report's date: the payments applied to
        it (Section 4.1 applies each to the oldest amount unpaid), matched by holder, due date
        and what it is for. None where the Notes' payments are not tracked: nothing is known
        paid."""
        applied = self.kinds["payment_applied"]
        tracked = applied or any(n["position"] and n["position"]["unpaid"] for n in notes)
        paid: defaultdict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for event in applied:
            for part in event.details["applied"]:
                key = (event.details["holder"], part["due_date"], part["for"])
                paid[key] += Decimal(part["paid"])
        for row in amounts:
            if not tracked:
                row["paid"] = row["unpaid"] = None
                continue
            # the ledger records an amount as "X in cash" (or "principal"); a payment, as "X"
            paid_for = row["what"].removesuffix(IN_CASH)
            got = paid[(row["holder"], row["due_date"], paid_for)].quantize(CENT)
            row["paid"], row["unpaid"] = str(got), str(Decimal(row["amount"]) - got)

    def _notes_ledger(self) -> list[dict[str, Any]]:
        """Per Note: each payment, postponement and blockage settlement, and where it stands."""
        holders: dict[str, dict[str, Any]] = {}
        entries = sorted(
            (e for kind in LEDGER for e in self.kinds[kind]), key=lambda e: (e.date, e.seq)
        )
        for event in entries:
            d = event.details
            note = holders.setdefault(d["holder"], {"holder": d["holder"], "rows": []})
            note["rows"].append(
                {
                    "seq": event.seq,
                    "date": event.date.isoformat(),
                    "event": event.event,
                    "text": describe(event),
                    "period_from": d.get("period_from") or d.get("blockage_from"),
                    "period_to_excluding": d.get("period_to_excluding")
                    or d.get("blockage_to_excluding"),
                    "days": d.get("days"),
                    "principal": d.get("principal"),
                    "interest": d.get("interest")
                    or d.get("default_rate_interest")
                    or d.get("installment"),
                    "cash": d.get("cash") or d.get("cash_total") or d.get("amount"),
                    "capitalized": d.get("capitalized"),
                    "capitalized_as": d.get("capitalized_as")
                    or ("Section 4.1(d)(ii)" if event.event == "blockage_settlement" else None),
                    "principal_after": d.get("principal_after"),
                    "clause": d.get("clause"),
                }
            )
        for event in sorted(self.kinds["note_position"], key=lambda e: (e.date, e.seq)):
            note = holders.setdefault(
                event.details["holder"], {"holder": event.details["holder"], "rows": []}
            )
            position = note["position"] = {
                "prepayment": None,
                "overdue": None,
                "payments": None,
                "seq": event.seq,
                "date": event.date.isoformat(),
                **event.details,
            }
            if position["prepayment"] is not None:  # what it assumes, where payments are untracked
                position["prepayment"] = {"assumes": None, **position["prepayment"]}
            position["unpaid"] = _unpaid(position)
        return [{"position": None, **note} for note in holders.values()]

    def _sections(self) -> list[str]:
        return sorted(self.by_covenant, key=_section_key)

    def _covenant(self, section: str) -> dict[str, Any]:
        own = self.by_covenant[section]
        terms = self._terms(section)
        t = terms.details if terms else {}
        tests = sorted((e for e in own if e.event == "test"), key=lambda e: (e.date, e.seq))
        latest = tests[-1] if tests else None
        # A maximum or a minimum: the terms store either as `minimum`, and say which; in a log
        # from before they did, a test says (as it does only of a maximum), and before the
        # first test it is not known.
        declared = t.get("breach_when")
        above = declared == "above" or any(e.details.get("breach_when") == "above" for e in tests)
        status, notes = self._status(section, latest, t)
        schedule = [_schedule_row(row, t.get("test")) for row in t.get("schedule") or []]
        not_tested = [_seq_row(e, "period", "reason") for e in own if e.event == "not_tested"]
        if latest and not_tested and not_tested[-1]["date"] > latest.date.isoformat():
            notes.append(f"not tested on {not_tested[-1]['date']}, the latest date reported")
        return {
            "section": section,
            "title": t.get("title") or own[0].details.get("title"),
            "status": status,
            "status_label": STATUS_WORDS[status],
            "status_text": STATUS_WORDS[status] + (f" ({'; '.join(notes)})" if notes else ""),
            "status_notes": notes,
            "bucket": "compliant"
            if status == "compliant"
            else "in_breach"
            if status in IN_BREACH
            else "other",
            "text": t.get("text"),
            "test": t.get("test"),
            "fiscal_year_end": t.get("fiscal_year_end"),
            "metric": t.get("metric"),
            "plus": t.get("plus"),
            "plus_source": t.get("plus_source"),
            "unit": t.get("unit"),
            "breach_when": "above" if above else "below" if declared or tests else None,
            "grace_days": t.get("grace_days"),
            "grace_note": t.get("grace_note"),
            "note": t.get("note"),
            "rule_file": t.get("rule_file"),
            "terms_seq": terms.seq if terms else None,
            "clause": latest.details.get("clause") if latest else None,
            "latest_test": _test_row(latest, self.breach_seqs) if latest else None,
            "tests": [_test_row(e, self.breach_seqs) for e in tests],
            "schedule": schedule,
            "not_tested": not_tested,
            "breaches": [
                life.breach.seq for life in self.lifecycles.values() if life.covenant == section
            ],
        }

    def _status(
        self, section: str, latest: StoredEvent | None, terms: dict[str, Any]
    ) -> tuple[str, list[str]]:
        """The covenant's state on the report's date, with what else a reviewer must know."""
        own = sorted(
            (life for life in self.lifecycles.values() if life.covenant == section),
            key=lambda life: (life.breach.date, life.breach.seq),
        )
        if latest is not None:
            life = self.lifecycles.get((section, latest.date.isoformat()))
            if life is not None:
                return life.status, [life.status_note] if life.status_note else []
            status = latest.details.get("result") or "breach"
            notes = []
            for kind in ("event_of_default", "in_grace", "default"):
                dates = [str(life.breach.date) for life in own if life.status == kind]
                if dates:
                    notes.append(f"open {STATUS_WORDS[kind]} of {', '.join(dates)}")
            notes += [
                f"Revolving Loan Reduction on {life.breach.date}"
                for life in own
                if life.status == "accelerated"
            ]
            return status, notes
        if own:
            last = own[-1]
            return last.status, [f"reported {last.breach.date}"] + (
                [last.status_note] if last.status_note else []
            )
        if terms.get("test") == "reported":
            return "no_breach_reported", []
        return "not_tested", []

    def _thin(self, covenant: dict[str, Any]) -> dict[str, Any] | None:
        test = covenant["latest_test"]
        if covenant["status"] != "compliant" or not test or test["headroom_percent"] is None:
            return None
        if Decimal(test["headroom_percent"]) >= self.thin_percent:
            return None
        return {"covenant": covenant["section"], "title": covenant["title"], **test}

    def _step_ups(self, covenant: dict[str, Any]) -> list[dict[str, Any]]:
        """The limits that tighten at the coming quarter-ends: a minimum that rises, or a
        maximum that falls (in a log whose terms do not say which, a covenant not yet tested
        is read as having a minimum)."""
        latest = covenant["latest_test"]
        above = covenant["breach_when"] == "above"
        found = []
        for before, row in pairwise(covenant["schedule"]):
            lift = Decimal(row["minimum"]) - Decimal(before["minimum"])
            takes_effect = date.fromisoformat(row["takes_effect"])
            if (-lift if above else lift) <= 0 or not self.day <= takes_effect <= self.horizon:
                continue
            if latest and not _untested(row, latest, covenant["test"]):
                continue
            plus = Decimal((latest or {}).get("plus_value") or 0)
            required = Decimal(row["minimum"]) + plus
            value = latest["value"] if latest else None
            found.append(
                {
                    "covenant": covenant["section"],
                    "title": covenant["title"],
                    "unit": covenant["unit"],
                    "breach_when": "above" if above else "below",
                    "takes_effect": row["takes_effect"],
                    "table_row": row["table_row"],
                    "source": row["source"],
                    "from_minimum": before["minimum"],
                    "to_minimum": row["minimum"],
                    "lift": str(lift),
                    "plus": covenant["plus"],
                    "plus_value": str(plus) if covenant["plus"] else None,
                    "required": str(required),
                    "latest": latest,
                    "improvement_needed": _shortfall(required, value, above),
                    "terms_seq": covenant["terms_seq"],
                }
            )
        return found


def _day(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _shortfall(required: Decimal, value: str | None, above: bool) -> str | None:
    """How far the latest value is below a coming minimum (`above`: over a coming maximum);
    "0" when it already meets it."""
    if value is None:
        return None
    short = Decimal(value) - required if above else required - Decimal(value)
    return str(short) if short > 0 else "0"


def _untested(row: dict[str, Any], latest: dict[str, Any], test: str | None) -> bool:
    """Whether a schedule row starts after the latest test (so no test has met it yet)."""
    if test == "fiscal_quarter_end":
        return FiscalQuarter.parse(row["from"]) > FiscalQuarter.parse(latest["period"])
    return date.fromisoformat(row["from"]) > date.fromisoformat(latest["date"])


def _schedule_row(row: dict[str, Any], test: str | None) -> dict[str, Any]:
    """A schedule row with the calendar days it governs, for charts and step-up warnings."""
    if test == "fiscal_quarter_end":
        first = FiscalQuarter.parse(row["from"])
        last = FiscalQuarter.parse(row["through"]) if row["through"] else None
        starts, ends, takes_effect = (
            first.nominal_start,
            last.nominal_end if last else None,
            first.nominal_end,
        )
    else:
        starts = takes_effect = date.fromisoformat(row["from"])
        ends = date.fromisoformat(row["through"]) if row["through"] else None
    return {
        **row,
        "starts": starts.isoformat(),
        "ends": ends.isoformat() if ends else None,
        "takes_effect": takes_effect.isoformat(),
    }


def _test_row(event: StoredEvent, breach_seqs: dict[tuple[str, str], int]) -> dict[str, Any]:
    d = event.details
    return {
        "seq": event.seq,
        "date": event.date.isoformat(),
        "period": d.get("period"),
        "inputs": d.get("inputs") or {},
        "metric": d.get("metric"),
        "value": d.get("value"),
        "minimum": d.get("minimum"),
        "plus_value": (d.get("plus") or {}).get("value"),
        "threshold": d.get("threshold"),
        "headroom": d.get("headroom"),
        "headroom_percent": d.get("headroom_percent"),
        "unit": d.get("unit"),
        "result": d.get("result"),
        "note": d.get("note"),
        "clause": d.get("clause"),
        "table_row": d.get("table_row"),
        "source_row": d.get("source_row"),
        "breach_seq": breach_seqs.get((event.covenant or "", event.date.isoformat())),
    }


def _section_key(section: str) -> tuple[int, tuple[int, ...], str]:
    """Numbered sections in order (4.2 before 6.18), then those of other agreements."""
    parts = section.split(".")
    if all(p.isdigit() for p in parts):
        return (0, tuple(int(p) for p in parts), "")
    return (1, (), section)
