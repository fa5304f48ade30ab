"""Section 4.1 as amended (First Amendment Agreement, Exhibit A item 1): the ledger of a Note.

One Note of $1,000,000 Existing Outstanding Principal keeps the arithmetic checkable by hand;
every expected amount below is worked out in its comment (30/360: months of 30 days, a 360-day
year; each payment rounded to the cent, half up).
"""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import RULES, pick, run, write_table
from engine import audit
from engine.cli import main
from engine.lifecycle import ATTENTION

HOLDER = "Holder A"


def note_facts(
    facts: Path,
    *,
    events=(),
    elections=(),
    primes=(("1996-02-01", "8.25"), ("1997-03-26", "8.50")),
) -> Path:
    folder = facts / "cerplex"
    write_table(
        folder,
        "notes",
        [
            {
                "holder": HOLDER,
                "existing_outstanding_principal": "1,000,000.00",
                # 1,000,000 x 9.50% x 180/360 = 47,500.00 (Schedule 3's figure for this Note)
                "initial_capitalized_interest_amount": "47,500.00",
            }
        ],
    )
    write_table(folder, "prime_rate", [{"date": d, "rate_percent": r} for d, r in primes])
    write_table(
        folder,
        "events",
        [{"date": d, "event": e, "covenant": c} for d, e, c in events],
    )
    write_table(
        folder,
        "pik_elections",
        [{"payment_date": p, "notice_date": n} for p, n in elections],
    )
    return facts


def on(events, kind: str, day: str):
    found = [e for e in events if e.event == kind and e.date == date.fromisoformat(day)]
    assert len(found) == 1, f"expected one {kind} on {day}, found {found}"
    return found[0].details


def test_semi_annual_period_capitalizes_the_initial_amount(facts_dir):
    # 4.1(a)(i) and 4.1(b)(i): February 19 to August 19, 1997 is 180 days at 9.50%:
    # 1,000,000 x 0.095 x 180/360 = 47,500.00, added to principal; nothing is paid in cash.
    events = run(note_facts(facts_dir), as_of=date(1997, 9, 1))
    paid = on(events, "interest_payment", "1997-08-19")
    assert (paid["days"], paid["interest"], paid["cash"]) == (180, "47500.00", "0.00")
    assert paid["capitalized_as"] == "Initial Capitalized Interest Amount"
    assert paid["principal_after"] == "1047500.00"
    assert paid["decided_by"] == "capitalize_initial"
    assert paid["schedule_3_amount"] == "47500.00" and "note" not in paid
    assert not [e for e in pick(events, "amount_due") if e.covenant == "4.1"]


def test_second_semi_annual_period_at_15_percent_all_in_cash(facts_dir):
    # 4.1(a)(ii): August 19, 1997 to February 19, 1998 is 180 days at 15% on 1,047,500.00
    # (the capitalized amount bears interest from the day it was added):
    # 1,047,500 x 0.15 x 180/360 = 78,562.50, all in cash (no election).
    events = run(note_facts(facts_dir), as_of=date(1998, 2, 20))
    paid = on(events, "interest_payment", "1998-02-19")
    assert (paid["principal"], paid["days"], paid["interest"]) == ("1047500.00", 180, "78562.50")
    assert paid["cash"] == "78562.50" and paid["decided_by"] == "cash_no_election"
    due = on(events, "amount_due", "1998-02-19")
    assert (due["holder"], due["amount"]) == (HOLDER, "78562.50")


def test_monthly_period(facts_dir):
    # 4.1(a)(y): monthly from March 19, 1998; February 19 to March 19 is 30 days:
    # 1,047,500 x 0.15 x 30/360 = 13,093.75.
    events = run(note_facts(facts_dir), as_of=date(1998, 3, 20))
    paid = on(events, "interest_payment", "1998-03-19")
    assert (paid["period_from"], paid["days"], paid["interest"]) == ("1998-02-19", 30, "13093.75")


def test_additional_capitalized_interest_with_a_timely_election(facts_dir):
    # 4.1(b)(ii): cash of at least the interest at 9.50%: 1,047,500 x 0.095 x 180/360 =
    # 49,756.25; the rest, 78,562.50 - 49,756.25 = 28,806.25, is added to principal. The next
    # month bears 15% on 1,076,306.25: x 0.15 x 30/360 = 13,453.828... = 13,453.83.
    facts = note_facts(facts_dir, elections=[("1998-02-19", "1998-02-13")])
    events = run(facts, as_of=date(1998, 3, 20))
    feb = on(events, "interest_payment", "1998-02-19")
    assert (feb["cash"], feb["capitalized"]) == ("49756.25", "28806.25")
    assert feb["capitalized_as"] == "Additional Capitalized Interest Amount"
    assert feb["principal_after"] == "1076306.25"
    assert on(events, "amount_due", "1998-02-19")["amount"] == "49756.25"
    assert on(events, "interest_payment", "1998-03-19")["interest"] == "13453.83"
    notice = on(events, "notice_required", "1997-08-19")
    assert (notice["given_on"], notice["timely"]) == ("1998-02-13", True)


def test_election_deadline_across_a_holiday_weekend(facts_dir):
    # 4.1(c)(i): notice "not less than three (3) Business Days prior" to Thursday, February 19,
    # 1998: Wed 18, Tue 17, then Monday 16 is Washington's Birthday (banks closed), Sat 14 and
    # Sun 15 are the weekend: the third Business Day back is Friday, February 13. A notice on
    # the holiday Monday, which counting weekdays alone would accept, is late: the Company
    # must pay all of the 78,562.50 in cash.
    facts = note_facts(facts_dir, elections=[("1998-02-19", "1998-02-16")])
    events = run(facts, as_of=date(1998, 2, 20))
    notice = on(events, "notice_required", "1997-08-19")
    assert (notice["deadline"], notice["timely"]) == ("1998-02-13", False)
    assert "1998-02-16 Washington's Birthday" in notice["holidays"]
    blocked = on(events, "pik_blocked", "1998-02-19")
    assert blocked["rule"] == "pik_blocked_by_late_notice"
    assert "after the deadline of 1998-02-13" in blocked["reason"]
    assert on(events, "interest_payment", "1998-02-19")["cash"] == "78562.50"


def test_the_next_election_deadline_is_owed_while_capitalization_is_open(facts_dir):
    # As of March 2, 1998, the next payment date is Thursday, March 19: Wed 18, Tue 17, Mon 16.
    events = run(note_facts(facts_dir), as_of=date(1998, 3, 2))
    notice = on(events, "notice_required", "1998-02-19")  # logged from the period's start
    assert (notice["deadline"], notice["payment_date"]) == ("1998-03-16", "1998-03-19")
    assert "given_on" not in notice
    assert "notice_required" in ATTENTION


def test_a_continuing_default_blocks_capitalization_and_all_is_due_in_cash(facts_dir):
    # A breach of Section 6.3 reported on December 1, 1997 is a Default (its suspension ended
    # in 1996) continuing on February 19, 1998: despite a timely election, 4.1(b) last
    # sentence requires the entire 78,562.50 in cash.
    facts = note_facts(
        facts_dir,
        events=[("1997-12-01", "reported_breach", "6.3")],
        elections=[("1998-02-19", "1998-02-12")],
    )
    events = run(facts, as_of=date(1998, 2, 20))
    blocked = on(events, "pik_blocked", "1998-02-19")
    assert blocked["rule"] == "pik_blocked_by_default"
    assert blocked["continuing_default"] == "Section 6.3 default of 1997-12-01"
    paid = on(events, "interest_payment", "1998-02-19")
    assert (paid["interest"], paid["cash"], paid["capitalized"]) == ("78562.50", "78562.50", "0")
    assert on(events, "amount_due", "1998-02-19")["amount"] == "78562.50"
    assert "pik_blocked" in ATTENTION


def test_a_default_before_august_19_1997_blocks_the_initial_amount(facts_dir):
    # 4.1(b)(i): with a Default existing on August 19, 1997 the 47,500.00 is due in cash.
    facts = note_facts(facts_dir, events=[("1997-06-02", "reported_breach", "6.4")])
    events = run(facts, as_of=date(1997, 9, 1))
    assert on(events, "pik_blocked", "1997-08-19")["rule"] == "pik_blocked_by_default"
    paid = on(events, "interest_payment", "1997-08-19")
    assert (paid["cash"], paid["principal_after"]) == ("47500.00", "1000000.00")
    assert on(events, "amount_due", "1997-08-19")["amount"] == "47500.00"


BLOCKAGE = [("1998-04-01", "blockage_start", ""), ("1998-05-06", "blockage_end", "")]


def test_blockage_period_default_rate_then_cash_and_capitalized(facts_dir):
    # 4.1(d), blockage from April 1 to May 6, 1998, on principal 1,047,500.00:
    # - March 19 to April 1 (12 days) accrues at 15%: 1,047,500 x 0.15 x 12/360 = 5,237.50,
    #   the installment due April 19, postponed;
    # - the blockage, 35 days at the Default Rate (prime 8.50% < the 17% floor):
    #   1,047,500 x 0.17 x 35/360 = 6,232,625/360 = 17,312.85; in cash at 9.50%:
    #   1,047,500 x 0.095 x 35/360 = 3,482,937.50/360 = 9,674.83;
    #   added to principal: 17,312.85 - 9,674.83 = 7,638.02;
    # - the postponed installment bears the Default Rate from April 19 to May 6 (17 days):
    #   5,237.50 x 0.17 x 17/360 = 42.05;
    # cash due on May 6: 9,674.83 + 5,237.50 + 42.05 = 14,954.38.
    # May 19: 13 days at 15% on 1,055,138.02: 2,057,519.14/360 = 5,715.33.
    events = run(note_facts(facts_dir, events=BLOCKAGE), as_of=date(1998, 5, 20))
    assert on(events, "payment_postponed", "1998-04-19")["installment"] == "5237.50"
    settled = on(events, "blockage_settlement", "1998-05-06")
    assert settled["days"] == 35
    assert (settled["default_rate_interest"], settled["cash_interest"]) == ("17312.85", "9674.83")
    assert settled["capitalized"] == "7638.02"
    assert settled["postponed"] == [
        {
            "due_date": "1998-04-19",
            "installment": "5237.50",
            "default_rate_interest": "42.05",
            "days": 17,
        }
    ]
    assert settled["cash_total"] == "14954.38"
    assert settled["principal_after"] == "1055138.02"
    assert on(events, "amount_due", "1998-05-06")["amount"] == "14954.38"
    may = on(events, "interest_payment", "1998-05-19")
    assert (may["period_from"], may["days"], may["interest"]) == ("1998-05-06", 13, "5715.33")


PRIME_18 = (("1996-02-01", "8.25"), ("1997-03-26", "8.50"), ("1998-04-15", "18.00"))


def test_default_rate_follows_prime_above_17_percent(facts_dir):
    # 4.1(a)(B)(2): the greater of 17% and prime. Prime is 18% from April 15, 1998:
    # April 1-15 (14 days) at 17%, April 15 - May 6 (21 days) at 18%:
    # 1,047,500 x (0.17 x 14 + 0.18 x 21) / 360 = 6,452,600 / 360 = 17,923.89;
    # the postponed installment, April 19 - May 6 at 18%: 5,237.50 x 0.18 x 17/360 = 44.52.
    events = run(note_facts(facts_dir, events=BLOCKAGE, primes=PRIME_18), as_of=date(1998, 5, 7))
    settled = on(events, "blockage_settlement", "1998-05-06")
    assert [(r["rate_percent"], r["days"]) for r in settled["rates"]] == [
        ("17", 14),
        ("18.00", 21),
    ]
    assert settled["default_rate_interest"] == "17923.89"
    assert settled["postponed"][0]["default_rate_interest"] == "44.52"


def test_default_rate_is_capped_at_the_configured_highest_lawful_rate(facts_dir, rules_copy):
    # 4.1(a)(A): the lesser of the highest lawful rate and (B). With 17.50% configured:
    # 1,047,500 x (0.17 x 14 + 0.175 x 21) / 360 = 6,342,612.50 / 360 = 17,618.37;
    # the installment: 5,237.50 x 0.175 x 17/360 = 43.28.
    agreement = rules_copy / "cerplex" / "agreement.toml"
    agreement.write_text(
        agreement.read_text()
        + '\n[agreement.highest_lawful_rate]\npercent = "17.50"\nsource = "test: configured"\n'
    )
    facts = note_facts(facts_dir, events=BLOCKAGE, primes=PRIME_18)
    events = run(facts, as_of=date(1998, 5, 7), rules=rules_copy)
    settled = on(events, "blockage_settlement", "1998-05-06")
    assert settled["rates"][1]["rate_percent"] == "17.50"
    assert "highest lawful rate" in settled["rates"][1]["basis"]
    assert settled["default_rate_interest"] == "17618.37"
    assert settled["postponed"][0]["default_rate_interest"] == "43.28"


def test_prepayment_quote_forgives_additional_capitalized_interest(facts_dir):
    # 4.1(e), prepaying on June 1, 1998: the Base Principal Amount 1,047,500.00 (principal plus
    # the Initial Capitalized Interest Amount) with interest at 9.50% since the May 19 payment
    # (12 days): 1,047,500 x 0.095 x 12/360 = 3,317.08; in all 1,050,817.08. The Additional
    # Capitalized Interest Amount of February 19 (28,806.25) is forgiven.
    facts = note_facts(facts_dir, elections=[("1998-02-19", "1998-02-13")])
    events = run(facts, as_of=date(1998, 6, 1))
    quote = on(events, "note_position", "1998-06-01")["prepayment"]
    assert (quote["base_principal_amount"], quote["days"]) == ("1047500.00", 12)
    assert (quote["interest"], quote["amount"]) == ("3317.08", "1050817.08")
    assert quote["forgiven"] == "28806.25"
    # After August 19, 1998 the option has lapsed.
    later = run(facts, as_of=date(1998, 8, 20))
    assert "prepayment" not in on(later, "note_position", "1998-08-20")


@pytest.mark.parametrize(
    ("payment_date", "notice_date", "message"),
    [
        # 4.1(b)(ii): elections run from the February 19, 1998 payment date; the payment dates
        # of 4.1(a) are then the 19th of each month from March 19, 1998 to maturity on
        # November 19, 2001 (the Notes are "Due November 19, 2001", First Amendment Recital B).
        ("1998-01-19", "1998-01-10", "not an interest payment date on which Additional"),
        ("1998-01-19", "1998-01-10", "the nearest is 1998-02-19"),
        ("1997-08-19", "1997-08-10", "from 1998-02-19 to maturity on 2001-11-19"),  # too early
        ("2001-12-19", "2001-12-10", "from 1998-02-19 to maturity on 2001-11-19"),  # after it
        ("2001-12-19", "2001-12-10", "the nearest is 2001-11-19"),
        ("1998-04-20", "1998-04-10", "the nearest are 1998-04-19 and 1998-05-19"),  # a day late
        ("1998-03-19", "1998-03-20", "is after the payment date"),
    ],
)
def test_an_election_for_a_date_that_allows_none_is_refused(
    facts_dir, payment_date, notice_date, message
):
    from engine.errors import InputError

    facts = note_facts(facts_dir, elections=[(payment_date, notice_date)])
    with pytest.raises(InputError) as refused:
        run(facts)
    (problem,) = refused.value.problems
    assert problem.row == 2 and message in problem.message
    assert problem.file.endswith("pik_elections.csv")


def test_a_blockage_end_without_a_start_is_refused(facts_dir):
    from engine.errors import InputError

    facts = note_facts(facts_dir, events=[("1998-05-06", "blockage_end", "")])
    with pytest.raises(InputError) as refused:
        run(facts)
    (problem,) = refused.value.problems
    assert (problem.row, problem.column) == (2, "event")


def test_a_blockage_before_the_default_rate_is_declared_keeps_no_ledger(facts_dir):
    # The agreement declares the Default Rate from February 19, 1997 (First Amendment Exhibit A
    # item 1, Section 4.1(a)(B)(1)); a blockage from January 1, 1997 would accrue it on days
    # for which none is declared. Said, rather than stopping the run with exit 6 (ValueError).
    facts = note_facts(facts_dir, events=[("1997-01-01", "blockage_start", "")])
    events = run(facts, as_of=date(1998, 12, 31))
    (missing,) = pick(events, "data_missing")
    assert missing.details["message"] == (
        "the blockage from 1997-01-01 (events.csv row 2) runs over 1997-01-01, for which the "
        "agreement declares no Default Rate (it declares one from 1997-02-19): the ledger of "
        "Section 4.1 cannot be kept"
    )
    assert not pick(events, "note_position") and not pick(events, "amount_due")
    # From February 19, 1997 on, the Default Rate is declared: the ledger is kept.
    later = run(note_facts(facts_dir, events=[("1997-02-19", "blockage_start", "")]))
    assert not pick(later, "data_missing") and pick(later, "note_position")


@pytest.mark.parametrize(
    ("start", "end", "first"),
    [
        ("1997-01-01", "1997-03-01", "1997-01-01"),  # before the first floor
        ("1997-02-19", "2030-01-01", None),  # 13.50% through 1997-08-18, then 17% for good
        ("1997-02-19", "1997-02-19", None),  # no day at all
    ],
)
def test_the_first_day_without_a_default_rate(start, end, first):
    from engine.interest import first_undeclared
    from engine.rules import load_agreement

    floors = load_agreement(RULES / "cerplex").default_rates
    day = first_undeclared(floors, date.fromisoformat(start), date.fromisoformat(end))
    assert day == (date.fromisoformat(first) if first else None)


def test_the_first_day_without_a_default_rate_between_two_floors():
    from engine.interest import first_undeclared
    from engine.rules import RateFloor

    def floor(start: str, end: str | None) -> RateFloor:
        last = date.fromisoformat(end) if end else None
        return RateFloor(date.fromisoformat(start), last, Decimal(17), "a clause", None)

    # January 2000, then from March 1: February 1 to 29 are declared by neither.
    floors = (floor("2000-01-01", "2000-01-31"), floor("2000-03-01", None))
    assert first_undeclared(floors, date(2000, 1, 15), date(2000, 4, 1)) == date(2000, 2, 1)
    assert first_undeclared(floors, date(2000, 1, 15), date(2000, 2, 1)) is None
    assert first_undeclared(floors, date(2000, 3, 1), date(2000, 4, 1)) is None


def test_every_amount_is_a_decimal_string_to_the_cent(facts_dir):
    events = run(note_facts(facts_dir, events=BLOCKAGE), as_of=date(1998, 12, 31))
    for event in pick(events, "amount_due"):
        assert Decimal(event.details["amount"]).as_tuple().exponent == -2


def with_payments(facts: Path, *rows) -> Path:
    write_table(
        facts / "cerplex",
        "note_payments",
        [{"date": d, "holder": HOLDER, "amount": a} for d, a in rows],
    )
    return facts


def test_interest_paid_late_bears_the_default_rate_until_paid(facts_dir):
    # The 78,562.50 due February 19, 1998 is paid on March 5: 16 days late in 30/360
    # (30 + 5 - 19). Default Rate 17% (prime 8.50%): 78,562.50 x 0.17 x 16/360 = 593.58, due
    # on the day of the late payment.
    facts = with_payments(note_facts(facts_dir), ("1998-03-05", "78,562.50"))
    events = run(facts, as_of=date(1998, 3, 10))
    applied = on(events, "payment_applied", "1998-03-05")["applied"]
    assert applied == [
        {
            "due_date": "1998-02-19",
            "for": "interest",
            "paid": "78562.50",
            "days_late": 16,
            "default_rate_interest": "593.58",
        }
    ]
    late = on(events, "amount_due", "1998-03-05")
    assert (late["amount"], late["what"]) == (
        "593.58",
        "Default Rate interest on a late payment in cash",
    )
    # Still unpaid on March 10, but Default Rate interest is not compounded.
    (overdue,) = on(events, "note_position", "1998-03-10")["overdue"]
    assert (overdue["unpaid"], overdue["default_rate_interest"]) == ("593.58", "0")


def test_unpaid_interest_and_the_prepayment_quote_with_payments_tracked(facts_dir):
    # 50,000 of the 78,562.50 due February 19, 1998 is paid on time: 28,562.50 is overdue on
    # March 19, 30 days at 17%: 28,562.50 x 0.17 x 30/360 = 404.64. The 13,093.75 due March 19
    # is due that day, not yet overdue.
    # 4.1(e) quote on March 19: 1,047,500.00 + no interest at 9.50% (0 days since the payment
    # date) + amounts unpaid 28,562.50 + 13,093.75 + Default Rate interest 404.64
    # = 1,089,560.89.
    facts = with_payments(note_facts(facts_dir), ("1998-02-19", "50,000"))
    events = run(facts, as_of=date(1998, 3, 19))
    position = on(events, "note_position", "1998-03-19")
    (overdue,) = position["overdue"]
    assert (overdue["due_date"], overdue["unpaid"], overdue["days"]) == (
        "1998-02-19",
        "28562.50",
        30,
    )
    assert overdue["default_rate_interest"] == "404.64"
    quote = position["prepayment"]
    assert (quote["other_amounts_due"], quote["amount"]) == ("42060.89", "1089560.89")
    assert "assumes" not in quote


def test_without_a_payments_table_nothing_is_called_overdue(facts_dir):
    events = run(note_facts(facts_dir), as_of=date(1998, 3, 19))
    position = on(events, "note_position", "1998-03-19")
    assert "overdue" not in position and "not tracked" in position["payments"]
    assert "assumes" in position["prepayment"]


def test_a_payment_from_a_holder_without_a_note_is_refused(facts_dir):
    from engine.errors import InputError

    facts = note_facts(facts_dir)
    write_table(
        facts / "cerplex",
        "note_payments",
        [{"date": "1998-02-19", "holder": "Somebody Else", "amount": "10"}],
    )
    with pytest.raises(InputError) as refused:
        run(facts)
    (problem,) = refused.value.problems
    assert (problem.row, problem.column) == (2, "holder")
    assert "holds no Note in notes.csv" in problem.message


def reported(facts: Path, as_of: str, tmp_path: Path, capsys) -> dict[str, str]:
    """The run's printed lines, then the report in each text format, of a log run as of
    `as_of`."""
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "log.db"
    main(["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db), "--as-of", as_of])
    out = {"run": capsys.readouterr().out}
    for format in ("md", "html", "json"):
        path = tmp_path / f"report.{format}"
        assert main(["report", "--db", str(db), "--format", format, "--out", str(path)]) == 0
        out[format] = path.read_text()
    return out


def test_what_is_unpaid_is_added_up_in_the_run_and_every_report(facts_dir, tmp_path, capsys):
    # As worked out above, on March 19, 1998: 28,562.50 overdue since February 19, 13,093.75
    # falling due that day (1,047,500 x 0.15 x 30/360), Default Rate interest 404.64 on the
    # overdue part: 28,562.50 + 13,093.75 = 41,656.25 unpaid, 42,060.89 with the interest.
    facts = with_payments(note_facts(facts_dir), ("1998-02-19", "50,000"))
    out = reported(facts, "1998-03-19", tmp_path, capsys)
    assert (
        f"{HOLDER}: principal $1,047,500.00, accrued interest $0.00 since 1998-03-19; unpaid "
        "$41,656.25, with Default Rate interest $404.64"
    ) in out["run"]
    sentence = (
        "Unpaid on 1998-03-19: $42,060.89 ($28,562.50 overdue, $13,093.75 falling due that day, "
        "$404.64 Default Rate interest on what is overdue)."
    )
    assert sentence in out["md"] and sentence in out["html"]
    (agreement,) = json.loads(out["json"])["agreements"]
    (note,) = agreement["notes_ledger"]
    assert note["position"]["unpaid"] == {
        "overdue": "28562.50",
        "due_that_day": "13093.75",
        "default_rate_interest": "404.64",
        "total": "42060.89",
    }
    # Each amount due, with what was paid against it by the report's date.
    assert [
        (x["due_date"], x["amount"], x["paid"], x["unpaid"]) for x in agreement["amounts_due"]
    ] == [
        ("1998-02-19", "78562.50", "50000.00", "28562.50"),
        ("1998-03-19", "13093.75", "0.00", "13093.75"),
    ]
    # The summary adds up every Note's: here the one Note's, citing its position.
    assert agreement["summary"]["unpaid"] == {
        "date": "1998-03-19",
        **note["position"]["unpaid"],
        "seqs": [note["position"]["seq"]],
    }
    assert (
        f"- Unpaid to the Notes' holders on 1998-03-19: $42,060.89 ($28,562.50 overdue, "
        f"$13,093.75 falling due that day, $404.64 Default Rate interest on what is overdue) "
        f"[{note['position']['seq']}]"
    ) in out["md"]


def test_nothing_unpaid_is_said_and_untracked_payments_are_not_added_up(
    facts_dir, tmp_path, capsys
):
    # The 78,562.50 due February 19, 1998 paid that day: nothing is unpaid on March 10.
    facts = with_payments(note_facts(facts_dir), ("1998-02-19", "78,562.50"))
    out = reported(facts, "1998-03-10", tmp_path / "paid", capsys)
    assert "since 1998-02-19; nothing due is unpaid" in out["run"]
    assert "Nothing due is unpaid on 1998-03-10." in out["md"]
    assert "- Nothing due is unpaid to the Notes' holders on 1998-03-10 [" in out["md"]
    # Without a note_payments table nothing is known to be unpaid, and nothing is added up.
    (facts / "cerplex" / "note_payments.csv").unlink()
    out = reported(facts, "1998-03-10", tmp_path / "untracked", capsys)
    assert "unpaid" not in out["run"].split("note_position")[1].split("\n")[0]
    assert "Unpaid" not in out["md"] and "Nothing due is unpaid" not in out["md"]
    amounts = json.loads(out["json"])["agreements"][0]["amounts_due"]
    assert amounts and all(x["paid"] is None and x["unpaid"] is None for x in amounts)
    assert "Payments not tracked: the folder has no note_payments table." in out["md"]


def test_a_note_in_a_blockage_says_so_in_the_run(facts_dir, tmp_path, capsys):
    # 4.1(d): the blockage from April 1, 1998. On April 10 nothing more accrues at 15%: the
    # 5,237.50 from March 19 to April 1 (above) waits; the blockage bears the Default Rate,
    # 1,047,500 x 0.17 x 9/360 = 4,451.88 so far (April 1 to 10, 30/360).
    out = reported(note_facts(facts_dir, events=BLOCKAGE[:1]), "1998-04-10", tmp_path, capsys)
    assert (
        f"{HOLDER}: principal $1,047,500.00, accrued interest $5,237.50 since 1998-03-19; in a "
        "blockage since 1998-04-01"
    ) in out["run"]
    assert "In a blockage since 1998-04-01: Default Rate interest $4,451.88 so far." in out["md"]


def test_an_amount_not_paid_on_its_due_date_is_overdue_from_the_next_day(facts_dir):
    # 50,000 of the 78,562.50 due February 19, 1998 paid that day: 28,562.50 overdue from
    # February 20. On March 19 the 13,093.75 due that day is not yet overdue.
    facts = with_payments(note_facts(facts_dir), ("1998-02-19", "50,000"))
    (missed,) = pick(run(facts, as_of=date(1998, 3, 19)), "payment_overdue")
    assert missed.date == date(1998, 2, 20)
    assert (missed.details["for"], missed.details["due_date"]) == ("interest", "1998-02-19")
    assert (missed.details["amount"], missed.details["unpaid_on_due_date"]) == (
        "78562.50",
        "28562.50",
    )
    assert "payment_overdue" in ATTENTION


def test_an_amount_paid_late_was_overdue_and_so_is_its_default_rate_interest(facts_dir):
    # As above: the 78,562.50 paid on March 5, 16 days late, was overdue from February 20; the
    # 593.58 of Default Rate interest it created, due March 5, is unpaid on March 10: overdue
    # from March 6. Paid on the day, nothing is overdue; untracked, nothing is known overdue.
    facts = with_payments(note_facts(facts_dir), ("1998-03-05", "78,562.50"))
    missed = pick(run(facts, as_of=date(1998, 3, 10)), "payment_overdue")
    assert [(e.date, e.details["for"], e.details["unpaid_on_due_date"]) for e in missed] == [
        (date(1998, 2, 20), "interest", "78562.50"),
        (date(1998, 3, 6), "Default Rate interest on a late payment", "593.58"),
    ]
    on_time = with_payments(note_facts(facts_dir), ("1998-02-19", "78,562.50"))
    assert not pick(run(on_time, as_of=date(1998, 3, 10)), "payment_overdue")
    (facts / "cerplex" / "note_payments.csv").unlink()
    assert not pick(run(facts, as_of=date(1998, 3, 10)), "payment_overdue")


def test_a_payment_made_after_a_run_does_not_restate_its_overdue_event(facts_dir, tmp_path, capsys):
    """A run on March 1, 1998 finds February 19's 78,562.50 unpaid: overdue, needing attention
    (exit 1). Paid on March 5, the next run records the payment and its Default Rate interest,
    not a correction of what the first run recorded: the amount was overdue all the same."""
    facts = with_payments(note_facts(facts_dir))
    db = tmp_path / "log.db"
    common = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    assert main([*common, "--as-of", "1998-03-01"]) == 1
    assert "the interest due 1998-02-19 ($78,562.50) not paid that day" in capsys.readouterr().out
    with_payments(facts, ("1998-03-05", "78,562.50"))
    main([*common, "--as-of", "1998-03-10"])
    out = capsys.readouterr().out
    assert "restatement" not in out and "payment_applied" in out
    overdue = [e for e in audit.read(db) if e.event == "payment_overdue"]
    assert [(e.date, e.details["for"]) for e in overdue] == [
        (date(1998, 2, 20), "interest"),
        (date(1998, 3, 6), "Default Rate interest on a late payment"),
    ]
