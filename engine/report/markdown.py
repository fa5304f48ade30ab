"""The report as Markdown, for e-mail and tickets: the same content as HTML, without charts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .text import (
    FIGURES,
    OTHER,
    PORTFOLIO_ORDER,
    adjusted,
    amount,
    blocked_runs,
    change,
    changes,
    figure,
    followed,
    input_amount,
    limit,
    money,
    nearest,
    no_position,
    open_defaults,
    percent,
    reported,
    step_up_sentence,
    step_up_short,
    tally,
    unpaid_words,
    when,
    year_end,
)

# Each character borrower text could make markup with, or break a table with, and what it
# becomes; the backslash first, so the escapes added after it are not escaped again.
_ESCAPES = (
    ("\\", "\\\\"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ("|", "\\|"),
    ("\r", " "),
    ("\n", " "),
    ("*", "\\*"),
    ("_", "\\_"),
    ("`", "\\`"),
    ("[", "\\["),
    ("]", "\\]"),
    ("#", "\\#"),
)
_MARKUP = re.compile("[" + re.escape("".join(raw for raw, _ in _ESCAPES)) + "]")


def md(value: object) -> str:
    """Table-safe Markdown: borrower text must never become markup or break a table. Most
    cells (figures, dates, names) hold none of those characters and are looked at once."""
    text = "" if value is None else str(value)
    if _MARKUP.search(text) is None:
        return text
    for raw, safe in _ESCAPES:
        text = text.replace(raw, safe)
    return text


def _table(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "---|" * len(header)
    for row in rows:
        yield "| " + " | ".join(md(c) for c in row) + " |"
    yield ""


def _headroom(test: dict[str, Any]) -> str:
    share = f" ({percent(test)})" if test["headroom_percent"] else ""
    return figure(test, "headroom") + share


def _inputs(test: dict[str, Any]) -> str:
    return ", ".join(f"{k} {input_amount(test, v)}" for k, v in test["inputs"].items())


def to_markdown(model: dict[str, Any]) -> Iterator[str]:
    """The report's lines (to be joined by newlines), a facility's section at a time."""
    yield from ["# Covenant report", ""]
    if not model["portfolio"]:
        yield from ["The audit log holds no events for this date.", ""]
        return
    source = model["generated_from"]
    basis = "as given" if model["as_of_given"] else "the latest run's as-of date"
    yield from [
        f"State on **{model['state_on']}** ({basis}). Built from {source['events']:,} of the "
        f"{source['log_events']:,} audit-log events (sequence numbers "
        f"{source['first_seq']}-{source['last_seq']}); numbers in brackets are sequence numbers "
        "(`covenant-monitor log`), listed in the appendix.",
        "",
    ]
    if len(model["portfolio"]) > 1:
        yield from _portfolio(model)
    for agreement in model["agreements"]:
        yield from _agreement(model, agreement)
    yield from ["## Appendix: the audit-log events this report rests on", ""]
    yield from _table(
        ["Seq", "Date", "Event", "Agreement", "Covenant", "What it records"],
        (
            [e["seq"], e["date"], e["event"], e["agreement"], e["covenant"] or "", e["summary"]]
            for e in model["events"]
        ),
    )


def _portfolio(model: dict[str, Any]) -> list[str]:
    rows, then = model["portfolio"], model["compared_to"]
    after = followed(len(rows), model["not_detailed"], compared_to=then)
    out = [
        "## Portfolio",
        "",
        f"{len(rows):,} facilities, {PORTFOLIO_ORDER} {after}",
        "",
        tally(model["by_status"]),
        "",
    ]
    if then:
        out += [changes(then, model["changes"]), ""]
    # Unpaid amounts due, where some facility's payments are tracked (Notes, Section 4.1).
    tracked = any(r["unpaid"] is not None for r in rows)
    short = any(r["step_up_short"] for r in rows)
    out += _table(
        [
            *("Facility", "Name", "Agreement", "Status"),
            *([f"On {then}", "Change"] if then else []),
            *("In breach", "Open defaults"),
            *(["Unpaid"] if tracked else []),
            *("Nearest limit",),
            *(["Step-up short"] if short else []),
            "Tested through",
        ],
        [
            [
                r["facility"],
                r["name"] or "",
                r["package"] or "",
                r["status_label"],
                *([r["status_before_label"] or "-", change(r["change"])] if then else []),
                r["in_breach"],
                open_defaults(r["open_defaults"], r["events_of_default"]),
                *([_unpaid_cell(r)] if tracked else []),
                nearest(r["nearest"]),
                *([step_up_short(r["step_up_short"])] if short else []),
                r["tested_through"] or "-",
            ]
            for r in rows
        ],
    )
    return out


def _unpaid_cell(row: dict[str, Any]) -> str:
    return "-" if row["unpaid"] is None else money(row["unpaid"], True)


def _agreement(model: dict[str, Any], a: dict[str, Any]) -> list[str]:
    s = a["summary"]
    out = [f"## {md(a['borrower'] or a['agreement'])}: {md(a['title'] or '')}", ""]
    if a["dated"]:
        which = f"Agreement `{md(a['agreement'])}`"
        if a["package"] != a["agreement"]:
            which = f"Facility `{md(a['agreement'])}` on agreement `{md(a['package'])}`"
        out += [
            f"{which} dated {a['dated']} [{a['terms_seq']}]; "
            f"lenders: {md('; '.join(a['lenders']))}.",
            "",
        ]
    if a["figures"]:  # their names are lower-case letters, digits and _ (the rules loader)
        out += [
            f"{FIGURES}: "
            + "; ".join(
                f"`{f['name']}`, {md(f['title'])}, {md(reported(f))} ({md(f['source'])})"
                for f in a["figures"]
            )
            + ".",
            "",
        ]
    if (ended := a["ended"]) is not None:
        out += [
            f"**Monitoring ended on {ended['date']}** [{ended['seq']}]: {md(ended['reason'])}. "
            "Nothing after that day is tested.",
            "",
        ]
    out += ["### Summary", ""]
    out += [
        f"- Covenants: {s['covenants']}: **{s['compliant']} compliant**, "
        f"**{s['in_breach']} in breach**, {s['other']} other ({OTHER})",
        f"- Open defaults: **{s['open_defaults']}**, of which events of default: "
        f"**{s['events_of_default']}**",
        f"- Amounts due: {len(a['amounts_due'])}, totalling {money(s['amounts_due_total'], True)}"
        + _left_unpaid(model, s),
        f"- Notices owed: {len(a['notices_owed'])}",
    ]
    if a["before"]:
        out += [f"- {words}" for words in _since(a["before"])]
    if unpaid := s["unpaid"]:
        words = unpaid_words(unpaid["date"], unpaid, to=" to the Notes' holders")
        out += [f"- {words} {' '.join(f'[{n}]' for n in unpaid['seqs'])}"]
    out += [""]
    out += _open_defaults(a) + _money_and_notices(a) + _warnings(model, a)
    out += _dates_ahead(model, a)
    out += ["### Covenants", ""]
    then = a["before"]["date"] if a["before"] else None
    out += _table(
        [
            *("Section", "Covenant", "Status"),
            *([f"On {then}"] if then else []),
            *("Latest test", "Value", "Threshold", "Headroom"),
        ],
        [
            [
                c["section"],
                c["title"],
                c["status_text"],
                *([c["status_before_text"] or "-"] if then else []),
                f"{when(t)} [{t['seq']}]" if (t := c["latest_test"]) else "",
                figure(t, "value") if t else "",
                figure(t, "threshold") if t else "",
                _headroom(t) if t else "",
            ]
            for c in a["covenants"]
        ],
    )
    for c in a["covenants"]:
        out += _covenant(c)
    out += _notes_ledger(a, model["state_on"]) + _lifecycles(a) + _instruments(a) + _restatements(a)
    return out


def _since(before: dict[str, Any]) -> list[str]:
    """What changed in a facility since the date compared to: the covenants whose status
    changed, and the breaches since."""
    then = before["date"]
    moved = [
        f"{c['covenant']} {c['title'] or ''}: {c['then'] or 'nothing recorded'} then, {c['now']} "
        f"now" + (f" [{c['seq']}]" if c["seq"] else "")
        for c in before["changed"]
    ]
    breaches = [
        f"{b['covenant']} on {b['breach_date']} [{b['breach_seq']}], {b['status_text']}"
        for b in before["breaches"]
    ]
    return [
        f"Changed since {then}: " + ("; ".join(moved) if moved else "no covenant's status"),
        f"Breaches since {then}: " + ("; ".join(breaches) if breaches else "none"),
    ]


def _open_defaults(a: dict[str, Any]) -> list[str]:
    out = ["#### Open defaults and events of default", ""]
    if not a["open_defaults"]:
        return [*out, "None.", ""]
    out += _table(
        ["Covenant", "Breach", "Value", "Threshold", "Status", "Clause"],
        [
            [
                f"{d['covenant']} {d['title']}",
                f"{d['breach_date']} [{d['breach_seq']}]",
                figure(d, "value") if d["threshold"] else "reported",
                figure(d, "threshold") if d["threshold"] else "",
                d["status_text"],
                d["clause"],
            ]
            for d in a["open_defaults"]
        ],
    )
    return out


def _money_and_notices(a: dict[str, Any]) -> list[str]:
    out = ["#### Amounts due and notices owed", ""]
    if a["amounts_due"]:
        # Paid and unpaid by the report's date, where the Notes' payments are tracked.
        tracked = any(x["paid"] is not None for x in a["amounts_due"])
        paid = ["Paid", "Unpaid"] if tracked else []
        out += _table(
            [
                "Due date",
                "Holder",
                "Amount due",
                *paid,
                "For",
                "Principal",
                "Interest",
                "Days",
                "Clause",
            ],
            [
                [
                    f"{x['due_date']} [{x['seq']}]",
                    x["holder"],
                    money(x["amount"], True),
                    *([money(x["paid"], True), money(x["unpaid"], True)] if tracked else []),
                    x["what"],
                    money(x["principal"], True) if x["principal"] else "",
                    money(x["interest"], True) if x["interest"] else "",
                    f"{x['days']} ({x['day_count']})" if x["days"] is not None else "",
                    x["clause"],
                ]
                for x in a["amounts_due"]
            ],
        )
    if a["notices_owed"]:
        out += _table(
            ["Notice", "Deadline", "Given", "To", "Clause"],
            [
                [
                    n["reason"],
                    f"{n['deadline']} [{n['seq']}]",
                    _given(n),
                    n["to"],
                    n["clause"],
                ]
                for n in a["notices_owed"]
            ],
        )
    if not (a["amounts_due"] or a["notices_owed"]):
        out += ["None.", ""]
    return out


def _left_unpaid(model: dict[str, Any], s: dict[str, Any]) -> str:
    if s["amounts_unpaid_total"] is None:
        return ""
    return f", of which {money(s['amounts_unpaid_total'], True)} unpaid on {model['state_on']}"


def _dates(run: dict[str, Any]) -> str:
    if len(run["seqs"]) == 1:
        return run["from"]
    return f"{run['from']} to {run['through']}, {len(run['seqs'])} payment dates"


def _given(notice: dict[str, Any]) -> str:
    if not notice["given_on"]:
        return ""
    return f"{notice['given_on']} ({'on time' if notice['timely'] else 'late'})"


def _notes_ledger(a: dict[str, Any], day: str) -> list[str]:
    if not a["notes_ledger"]:
        return []
    out = ["### Ledger of the Notes (Section 4.1)", ""]
    if a["pik_blocked"]:
        out += ["Capitalization not allowed (all interest due in cash):", ""]
        out += [
            f"- {_dates(run)} {' '.join(f'[{n}]' for n in run['seqs'])}: {md(run['reason'])} "
            f"({md(run['clause'])})"
            for run in blocked_runs(a["pik_blocked"])
        ]
        out += [""]
    for note in a["notes_ledger"]:
        out += [f"#### {md(note['holder'])}", ""]
        out += _table(
            [
                "Date",
                "Entry",
                "Period",
                "Days",
                "Principal",
                "Interest",
                "Cash",
                "Capitalized",
                "Principal after",
            ],
            [
                [
                    f"{r['date']} [{r['seq']}]",
                    r["event"].replace("_", " ")
                    + (f" ({r['capitalized_as']})" if r["capitalized_as"] else ""),
                    f"{r['period_from']} to {r['period_to_excluding']}"
                    if r["period_to_excluding"]
                    else "",
                    r["days"] if r["days"] is not None else "",
                    money(r["principal"], True) if r["principal"] else "",
                    money(r["interest"], True) if r["interest"] else "",
                    money(r["cash"], True) if r["cash"] else "",
                    money(r["capitalized"], True) if r["capitalized"] else "",
                    money(r["principal_after"], True) if r["principal_after"] else "",
                ]
                for r in note["rows"]
            ],
        )
        if not (p := note["position"]):
            out += [no_position(day), ""]
            continue
        out += [
            f"On {p['date']} [{p['seq']}]: principal {money(p['principal'], True)} "
            f"(existing {money(p['existing_outstanding_principal'], True)}, Initial "
            f"Capitalized Interest Amount {money(p['initial_capitalized'], True)}"
            f"{', accelerated' if p['initial_accelerated'] else ''}, Additional "
            f"{money(p['additional_capitalized'], True)}, blockage "
            f"{money(p['blockage_capitalized'], True)}); interest accrued since "
            f"{p['accrued_from']}: {money(p['accrued_interest'], True)}."
            + (
                f" In a blockage since {p['in_blockage_since']}: Default Rate interest "
                f"{money(p['blockage_default_rate_interest'], True)} so far."
                if p["in_blockage_since"]
                else ""
            ),
            "",
        ]
        if p.get("overdue"):
            out += [f"Overdue on {p['date']}:", ""]
            out += _table(
                ["Due date", "For", "Unpaid", "Days", "Default Rate interest"],
                [
                    [
                        o["due_date"],
                        o["for"],
                        money(o["unpaid"], True),
                        o["days"],
                        money(o["default_rate_interest"], True),
                    ]
                    for o in p["overdue"]
                ],
            )
        elif p.get("payments"):
            out += [f"Payments {p['payments']}.", ""]
        if p["unpaid"]:
            out += [unpaid_words(p["date"], p["unpaid"]) + ".", ""]
        if q := p.get("prepayment"):
            out += [
                f"Prepayment quote (Section 4.1(e)), prepaying on {q['on']}: "
                f"**{money(q['amount'], True)}** = Base Principal Amount "
                f"{money(q['base_principal_amount'], True)} + interest at {q['rate_percent']}% "
                f"from {q['interest_from']} ({q['days']} days) {money(q['interest'], True)} + "
                f"amounts unpaid, with Default Rate interest on those overdue, "
                f"{money(q['other_amounts_due'], True)}; forgiven: "
                f"{money(q['forgiven'], True)} of capitalized interest. Open through "
                f"{q['available_through']}"
                + (f"; assumes {q['assumes']}." if q.get("assumes") else "."),
                "",
            ]
    return out


def _warnings(model: dict[str, Any], a: dict[str, Any]) -> list[str]:
    s = a["summary"]
    out = [
        "#### Early warnings",
        "",
        f"Thin headroom (a compliant latest test less than {model['thin_headroom_percent']}% "
        "above its threshold):",
        "",
    ]
    if s["thin_headroom"]:
        out += _table(
            ["Covenant", "Latest test", "Value", "Threshold", "Headroom", "Clause"],
            [
                [
                    f"{w['covenant']} {w['title']}",
                    f"{when(w)} [{w['seq']}]",
                    figure(w, "value"),
                    figure(w, "threshold"),
                    _headroom(w),
                    w["clause"],
                ]
                for w in s["thin_headroom"]
            ],
        )
    else:
        out += ["None.", ""]
    horizon = model["horizon"]
    out += [
        f"Step-ups from {horizon['after']} through {horizon['through']} (the next two "
        "quarter-ends):",
        "",
    ]
    if not s["step_ups"]:
        return [*out, "None.", ""]
    for up in s["step_ups"]:
        out.append("- " + md(step_up_sentence(up)) + f" [{up['terms_seq']}]")
    return [*out, ""]


def _dates_ahead(model: dict[str, Any], a: dict[str, Any]) -> list[str]:
    horizon = model["horizon"]
    out = [
        "#### Dates ahead",
        "",
        f"From {horizon['after']} through {horizon['through']} (the next two quarter-ends):",
        "",
    ]
    if not a["dates_ahead"]:
        return [*out, "None.", ""]
    return out + list(
        _table(
            ["Date", "Covenant", "What", "Clause"],
            (
                [
                    f"{x['date']} [{x['seq']}]",
                    f"{x['covenant']} {x['title'] or ''}".rstrip(),
                    x["text"],
                    x["clause"] or "",
                ]
                for x in a["dates_ahead"]
            ),
        )
    )


def _covenant(c: dict[str, Any]) -> list[str]:
    out = [f"#### {c['section']} {md(c['title'])}: {md(c['status_text'])}", ""]
    facts = []
    if c["clause"]:
        facts.append(f"Threshold in force at the latest test: {md(c['clause'])}.")
    if c["metric"]:
        side = f" when {c['breach_when']}" if c["breach_when"] else ""
        facts.append(f"Metric: `{c['metric']}`, {adjusted(limit(c), c['plus'])}; breach{side}.")
    if c["fiscal_year_end"]:
        facts.append(f"Tested {year_end(c['fiscal_year_end'])}.")
    if c["grace_days"] is not None:
        facts.append(f"Grace: {c['grace_days']} days.")
    facts.append(f"Terms [{c['terms_seq']}] from `{c['rule_file']}`." if c["rule_file"] else "")
    out += [" ".join(f for f in facts if f), ""]
    if c["text"]:
        out += ["> " + md(" ".join(c["text"].split())), ""]
    if c["schedule"]:
        out += _table(
            ["Table row", "From", "Through", limit(c).capitalize(), "Source"],
            [
                [
                    row["table_row"],
                    row["from"],
                    row["through"] or "thereafter",
                    amount(c["unit"], row["minimum"]),
                    row["source"] + (f" ({' '.join(row['note'].split())})" if row["note"] else ""),
                ]
                for row in c["schedule"]
            ],
        )
    if c["tests"]:
        out += _table(
            ["Date", "Inputs", "Metric", "Threshold", "Headroom", "%", "Result"],
            [
                [
                    f"{when(t)} [{t['seq']}]",
                    _inputs(t),
                    figure(t, "value"),
                    figure(t, "threshold"),
                    figure(t, "headroom"),
                    percent(t),
                    t["result"]
                    + (f" [{t['breach_seq']}]" if t["breach_seq"] else "")
                    + (f": {t['note']}" if t["note"] else ""),
                ]
                for t in c["tests"]
            ],
        )
    if c["not_tested"]:
        out += [f"Not tested on {len(c['not_tested'])} date(s):", ""]
        out += [f"- {n['date']}: {md(n['reason'])} [{n['seq']}]" for n in c["not_tested"]] + [""]
    return out


def _lifecycles(a: dict[str, Any]) -> list[str]:
    out = ["### What became of each breach", ""]
    if not a["lifecycles"]:
        return [*out, "No breach.", ""]
    for life in a["lifecycles"]:
        out += [
            f"#### {life['covenant']} {md(life['title'])}, {life['breach_date']}: "
            f"{md(life['status_text'])}",
            "",
        ]
        out += [f"- {s['date']} {md(s['text'])} [{s['seq']}]" for s in life["steps"]] + [""]
    return out


def _restatements(a: dict[str, Any]) -> list[str]:
    out = ["### Restatements", ""]
    lines = [f"- {r['date']}: {md(r['text'])} [{r['seq']}]" for r in a["restatements"]]
    return out + (lines or ["None: no figure or rule evaluated has been corrected since."]) + [""]


def _instruments(a: dict[str, Any]) -> list[str]:
    out = ["### Instruments, waivers and suspensions", ""]
    lines = [
        f"- {i['date']}: {md(i['title'])} (`{md(i['instrument'])}`) effective [{i['seq']}]"
        for i in a["instruments"]
    ]
    lines += [
        f"- **Pending** {md(w['instrument'])}: {md(w['reason'])} [{w['seq']}]"
        for w in a["waivers_pending"]
    ]
    lines += [
        f"- {s['covenant']}: suspended from {s['suspended_from']} by {md(s['instrument'])} until "
        f"the earlier of {md(' and '.join(s['until_earlier_of'] or []))} [{s['seq']}]"
        for s in a["suspensions"]
    ]
    lines += [
        f"- {r['covenant']}: Reinstatement Date {r['date']} ({md(r['trigger'])}) [{r['seq']}]"
        for r in a["reinstatement_dates"]
    ]
    lines += [f"- {md(m['message'])} [{m['seq']}]" for m in a["data_missing"]]
    return out + (lines or ["None."]) + [""]
