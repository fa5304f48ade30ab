"""Breach reports built from the audit log alone, so every statement traces to logged events.

`build` turns stored events into a plain model (per agreement, per covenant); `to_markdown`
and `to_json` render it. `one_line` is the short form `run` and `log` print.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from .audit import StoredEvent

DISPOSITIONS = ("event_of_default", "grace_period", "default", "suspended", "waived")
_STATUS_WORDS = {
    "event_of_default": "event of default",
    "grace_period": "default (in grace)",
    "default": "default",
    "suspended": "breach suspended",
    "waived": "breach waived",
}


def money(value: str | None, cents: bool = False) -> str:
    if value is None:
        return "n/a"
    amount = Decimal(value)
    places = "{:,.2f}" if cents or amount != amount.to_integral_value() else "{:,.0f}"
    body = "$" + places.format(abs(amount))
    return f"({body})" if amount < 0 else body


def ratio(value: str | None, threshold: str | None = None) -> str:
    if value is None:
        return "n/a"
    amount = Decimal(value)
    shown = amount.quantize(Decimal("0.0001"))
    # Never let rounding make a breach look like equality.
    if threshold is not None and shown == Decimal(threshold) and amount != Decimal(threshold):
        shown = amount
    return f"{shown}"


def figure(details: dict[str, Any], key: str) -> str:
    if details.get("unit") == "ratio":
        other = details.get("threshold") if key == "value" else None
        return ratio(details.get(key), other)
    return money(details.get(key))


def one_line(event: StoredEvent) -> str:
    d = event.details
    head = f"{event.date}  {event.agreement:<10} {event.covenant or '-':<5} {event.event:<24}"
    if event.event in ("test", "breach", "revolving_loan_reduction") and "threshold" in d:
        if d.get("threshold") is None:
            body = f"reported ({d.get('reported_by')})"
        else:
            body = (
                f"{d.get('period')}: {figure(d, 'value')} vs minimum "
                f"{figure(d, 'threshold')}, headroom {figure(d, 'headroom')}"
            )
            if event.event == "test":
                body += f" -> {d.get('result')}"
    elif event.event == "amount_due":
        body = f"{money(d['amount'])} due {d['due_date']} from {d['holder']}"
    elif event.event == "notice_required":
        body = f"notice to {d.get('to')} by {d['deadline']}"
    elif event.event in (
        "waived",
        "suspended",
        "reinstatement_date",
        "covenant_suspended",
        "instrument_effective",
        "waiver_pending",
    ):
        body = f"{d.get('instrument')}"
        if d.get("trigger"):
            body += f" ({d['trigger']})"
    elif event.event in ("default", "event_of_default", "grace_period"):
        body = f"breach of {d.get('breach_date')}"
        if d.get("event_of_default_on"):
            body += f"; event of default on {d['event_of_default_on']}"
    elif event.event == "covenant_terms":
        rows = len(d.get("schedule") or [])
        body = f"{d.get('title')}: {d.get('test')}, {rows} schedule row(s) ({d.get('rule_file')})"
    elif event.event == "agreement_terms":
        body = f"{d.get('title')}, dated {d.get('dated')}"
    elif event.event == "not_tested":
        body = f"{d.get('period')}: {d.get('reason')}"
    else:
        body = d.get("message") or d.get("reason") or ""
    clause = d.get("clause")
    return f"{head} {body}" + (f"  [{clause}]" if clause else "")


def build(events: list[StoredEvent]) -> dict[str, Any]:
    by_agreement: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_agreement[event.agreement].append(event)
    return {
        "generated_from": {
            "events": len(events),
            "first_seq": events[0].seq if events else None,
            "last_seq": events[-1].seq if events else None,
            "as_of": max(e.as_of for e in events).isoformat() if events else None,
        },
        "agreements": [_agreement(name, evs) for name, evs in sorted(by_agreement.items())],
    }


def _row(event: StoredEvent, *keys: str) -> dict[str, Any]:
    row = {"seq": event.seq, "date": event.date.isoformat(), "covenant": event.covenant}
    row.update({k: event.details.get(k) for k in keys})
    return row


def _agreement(name: str, events: list[StoredEvent]) -> dict[str, Any]:
    kinds: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        kinds[event.event].append(event)
    dispositions: dict[tuple[str | None, str], dict[str, StoredEvent]] = defaultdict(dict)
    for kind in DISPOSITIONS:
        for event in kinds[kind]:
            breach_date = event.details.get("breach_date", event.date.isoformat())
            dispositions[(event.covenant, breach_date)][kind] = event

    def disposition(covenant: str | None, day: str) -> str | None:
        found = dispositions.get((covenant, day), {})
        return next((k for k in DISPOSITIONS if k in found), None)

    covenants = []
    sections = sorted(
        {e.covenant for e in events if e.covenant},
        key=lambda s: tuple(int(p) for p in s.split(".")),
    )
    for section in sections:
        own = [e for e in events if e.covenant == section]
        tests = [e for e in own if e.event == "test"]
        breaches = [e for e in own if e.event == "breach"]
        latest = max(tests, key=lambda e: (e.date, e.seq)) if tests else None
        entry: dict[str, Any] = {
            "section": section,
            "title": own[0].details.get("title"),
            "tests": len(tests),
            "breaches": len(breaches),
            "not_tested": len([e for e in own if e.event == "not_tested"]),
        }
        if latest is not None:
            d = latest.details
            entry["latest_test"] = {
                "seq": latest.seq,
                "date": latest.date.isoformat(),
                "period": d.get("period"),
                "value": d.get("value"),
                "threshold": d.get("threshold"),
                "headroom": d.get("headroom"),
                "headroom_percent": d.get("headroom_percent"),
                "unit": d.get("unit"),
                "result": d.get("result"),
                "clause": d.get("clause"),
            }
            if d.get("result") == "compliant":
                entry["status"] = "compliant"
            elif d.get("result") == "below_minimum":
                entry["status"] = "below minimum"
            else:
                kind = disposition(section, latest.date.isoformat())
                entry["status"] = _STATUS_WORDS.get(kind, "breach")
        elif breaches:
            last = max(breaches, key=lambda e: (e.date, e.seq))
            kind = disposition(section, last.date.isoformat())
            entry["status"] = _STATUS_WORDS.get(kind, "breach") + f" (reported {last.date})"
            reinstated = [e for e in own if e.event == "reinstatement_date" and e.date >= last.date]
            if reinstated:
                entry["status"] += f"; in full force again after {reinstated[0].date}"
        else:
            entry["status"] = "not tested" if entry["not_tested"] else "no test or breach logged"
        covenants.append(entry)

    breaches_by_date = {(b.covenant, b.date.isoformat()): b for b in kinds["breach"]}
    defaults = []
    for event in kinds["default"]:
        key = (event.covenant, event.details.get("breach_date"))
        eod = dispositions.get(key, {}).get("event_of_default")
        breach = breaches_by_date.get(key)
        defaults.append(
            {
                **_row(event, "breach_date", "reason", "clause", "grace_days", "grace_note"),
                "title": event.details.get("title"),
                "value": breach.details.get("value") if breach else None,
                "threshold": breach.details.get("threshold") if breach else None,
                "unit": breach.details.get("unit") if breach else None,
                "event_of_default_on": eod.date.isoformat() if eod else None,
                "event_of_default_seq": eod.seq if eod else None,
                "in_grace_until": event.details.get("event_of_default_on") if not eod else None,
            }
        )
    return {
        "agreement": name,
        "covenants": covenants,
        "open_defaults": defaults,
        "breaches": [
            _row(
                e,
                "period",
                "value",
                "threshold",
                "headroom",
                "headroom_percent",
                "unit",
                "clause",
                "reported_by",
                "note",
            )
            for e in kinds["breach"]
        ],
        "instruments": [
            _row(e, "instrument", "title", "document", "conditions_satisfied")
            for e in kinds["instrument_effective"]
        ],
        "waivers_pending": [
            _row(e, "instrument", "reason", "clause") for e in kinds["waiver_pending"]
        ],
        "waived": [
            _row(e, "instrument", "breach_date", "effective_date", "clause")
            for e in kinds["waived"]
        ],
        "suspensions": [
            _row(e, "instrument", "suspended_from", "until_earlier_of", "clause")
            for e in kinds["covenant_suspended"]
        ],
        "suspended_breaches": [
            _row(e, "instrument", "breach_date", "reinstatement_date", "clause")
            for e in kinds["suspended"]
        ],
        "reinstatement_dates": [
            _row(e, "instrument", "trigger", "clause") for e in kinds["reinstatement_date"]
        ],
        "revolving_loan_reductions": [
            _row(e, "value", "threshold", "clause") for e in kinds["revolving_loan_reduction"]
        ],
        "amounts_due": [
            _row(
                e,
                "holder",
                "amount",
                "principal",
                "interest",
                "due_date",
                "days",
                "day_count",
                "rates",
                "clause",
            )
            for e in kinds["amount_due"]
        ],
        "notices_owed": [
            _row(e, "deadline", "to", "reason", "clause") for e in kinds["notice_required"]
        ],
        "data_missing": [_row(e, "message") for e in kinds["data_missing"]],
    }


def to_json(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2) + "\n"


def _md(value: object) -> str:
    """Table-safe Markdown: borrower text must never become markup or break a table."""
    text = "" if value is None else str(value)
    for raw, safe in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("\n", " "),
        ("*", "\\*"),
        ("_", "\\_"),
        ("`", "\\`"),
        ("[", "\\["),
    ):
        text = text.replace(raw, safe)
    return text


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def to_markdown(model: dict[str, Any]) -> str:
    source = model["generated_from"]
    out = ["# Covenant breach report", ""]
    if not source["events"]:
        return "\n".join([*out, "The audit log holds no events yet.", ""])
    out += [
        f"As of {source['as_of']} (latest run). Built from audit-log events "
        f"{source['first_seq']}-{source['last_seq']}; numbers in brackets are event "
        "sequence numbers (`covenant-monitor log`).",
        "",
    ]
    for agreement in model["agreements"]:
        out += [f"## Agreement {_md(agreement['agreement'])}", "", "### Covenants", ""]
        rows = []
        for c in agreement["covenants"]:
            t = c.get("latest_test")
            if t:
                pct = f" ({t['headroom_percent']}%)" if t.get("headroom_percent") else ""
                when = t["date"] if t["period"] == t["date"] else f"{t['period']} ({t['date']})"
                rows.append(
                    [
                        c["section"],
                        c["title"],
                        c["status"],
                        f"{when} [{t['seq']}]",
                        figure(t, "value"),
                        figure(t, "threshold"),
                        figure(t, "headroom") + pct,
                        t["clause"],
                    ]
                )
            else:
                rows.append([c["section"], c["title"], c["status"], "", "", "", "", ""])
        out += _table(
            [
                "Section",
                "Covenant",
                "Status",
                "Latest test",
                "Value",
                "Threshold",
                "Headroom",
                "Clause",
            ],
            rows,
        )
        out += ["### Open defaults and events of default", ""]
        if agreement["open_defaults"]:
            out += _table(
                ["Covenant", "Breach date", "Value", "Threshold", "Event of default", "Clause"],
                [
                    [
                        d["covenant"],
                        f"{d['breach_date']} [{d['seq']}]",
                        figure(d, "value"),
                        figure(d, "threshold"),
                        f"{d['event_of_default_on']} [{d['event_of_default_seq']}]"
                        if d["event_of_default_on"]
                        else f"in grace until {d['in_grace_until']}",
                        d["clause"],
                    ]
                    for d in agreement["open_defaults"]
                ],
            )
        else:
            out += ["None.", ""]
        out += ["### Waivers, suspensions and reinstatement", ""]
        lines = []
        for w in agreement["waivers_pending"]:
            lines.append(f"- **Pending** {w['instrument']}: {w['reason']} [{w['seq']}]")
        for w in agreement["waived"]:
            lines.append(
                f"- {w['covenant']}: breach of {w['breach_date']} waived by "
                f"{w['instrument']} (effective {w['effective_date']}) [{w['seq']}]"
            )
        for s in agreement["suspensions"]:
            until = " and ".join(s["until_earlier_of"] or [])
            lines.append(
                f"- {s['covenant']}: suspended from {s['suspended_from']} by "
                f"{s['instrument']} until the earlier of {until} [{s['seq']}]"
            )
        for s in agreement["suspended_breaches"]:
            lines.append(
                f"- {s['covenant']}: breach of {s['breach_date']} falls within the "
                f"suspension by {s['instrument']} [{s['seq']}]"
            )
        for r in agreement["reinstatement_dates"]:
            lines.append(
                f"- {r['covenant']}: Reinstatement Date {r['date']}, {r['trigger']}; "
                f"in full force after it [{r['seq']}]"
            )
        out += [_md_line(line) for line in lines] or ["None."]
        out += ["", "### Revolving Loan Reduction, amounts due and notices owed", ""]
        for r in agreement["revolving_loan_reductions"]:
            out += [
                f"A Revolving Loan Reduction first occurred on {r['date']}: "
                f"{money(r['value'])} against a minimum of {money(r['threshold'])} "
                f"[{r['seq']}] ({_md(r['clause'])}).",
                "",
            ]
        if agreement["amounts_due"]:
            out += _table(
                [
                    "Holder",
                    "Amount due",
                    "Initial Capitalized Interest",
                    "Interest",
                    "Due date",
                    "Days (30/360)",
                ],
                [
                    [
                        a["holder"],
                        money(a["amount"], True),
                        money(a["principal"], True),
                        money(a["interest"], True),
                        f"{a['due_date']} [{a['seq']}]",
                        a["days"],
                    ]
                    for a in agreement["amounts_due"]
                ],
            )
        if agreement["notices_owed"]:
            out += _table(
                ["Notice", "Deadline", "To"],
                [
                    [n["reason"], f"{n['deadline']} [{n['seq']}]", n["to"]]
                    for n in agreement["notices_owed"]
                ],
            )
        for m in agreement["data_missing"]:
            out += [f"- {_md(m['message'])} [{m['seq']}]"]
        if not (agreement["amounts_due"] or agreement["notices_owed"] or agreement["data_missing"]):
            out += ["None.", ""]
        out += ["### Breaches", ""]
        out += (
            _table(
                ["Date", "Covenant", "Period", "Value", "Threshold", "Headroom", "Clause"],
                [
                    [
                        f"{b['date']} [{b['seq']}]",
                        b["covenant"],
                        b["period"] or "reported",
                        figure(b, "value"),
                        figure(b, "threshold"),
                        figure(b, "headroom"),
                        b["clause"],
                    ]
                    for b in agreement["breaches"]
                ],
            )
            if agreement["breaches"]
            else ["None.", ""]
        )
    return "\n".join(out) + "\n"


def _md_line(line: str) -> str:
    """Escape markup-significant characters in a bullet line while keeping its ** emphasis."""
    return line.replace("<", "&lt;").replace(">", "&gt;")
