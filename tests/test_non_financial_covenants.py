"""Non-financial covenants: the $50,000 counsel fee reserve (First Amendment Agreement Section
5.2) and copies of 10-Q/10-K filings within 20 days (Stock Purchase Agreement Section 5(a))."""

from datetime import date

from conftest import pick, run, write_table


def on(events, kind: str, section: str, day: str):
    found = [
        e
        for e in events
        if e.event == kind and e.covenant == section and e.date == date.fromisoformat(day)
    ]
    assert len(found) == 1, f"expected one {kind} {section} on {day}, found {found}"
    return found[0].details


def reserve(facts, *rows):
    write_table(
        facts / "cerplex",
        "counsel_reserve",
        [{"date": d, "balance": b, "applied": a} for d, b, a in rows],
    )
    return facts


def test_reserve_paid_by_august_22_1997_complies(facts_dir):
    events = run(reserve(facts_dir, ("1997-08-22", "50,000", "")), as_of=date(1997, 9, 1))
    test = on(events, "test", "5.2", "1997-08-22")
    assert (test["value"], test["threshold"], test["result"]) == ("50000", "50000", "compliant")


def test_reserve_paid_late_is_a_breach_on_august_22(facts_dir):
    # Section 5.2: "on or prior to August 22, 1997"; nothing was held that day.
    events = run(reserve(facts_dir, ("1997-08-25", "50,000", "")), as_of=date(1997, 9, 1))
    breach = on(events, "breach", "5.2", "1997-08-22")
    assert (breach["value"], breach["headroom"]) == ("0", "-50000")
    assert on(events, "default", "5.2", "1997-08-22")


def test_reserve_falling_below_50000_and_not_promptly_replenished(facts_dir):
    # $17,500 applied on Thursday, January 15, 1998 leaves $32,500. "Promptly" is taken as five
    # Business Days (rule file): Fri 16 (1), Mon 19 is Martin Luther King Jr. Day, Tue 20 (2),
    # Wed 21 (3), Thu 22 (4), Fri 23 (5). Still $32,500 on January 23: a breach, $17,500 short.
    facts = reserve(
        facts_dir,
        ("1997-08-21", "50,000", ""),
        ("1998-01-15", "32,500", "17,500"),
        ("1998-01-29", "50,000", ""),
    )
    events = run(facts, as_of=date(1998, 2, 1))
    breach = on(events, "breach", "5.2", "1998-01-23")
    assert (breach["value"], breach["threshold"], breach["headroom"]) == (
        "32500",
        "50000",
        "-17500",
    )
    assert breach["period"] == "short from 1998-01-15"
    assert on(events, "default", "5.2", "1998-01-23")


def test_reserve_replenished_within_five_business_days_complies(facts_dir):
    facts = reserve(
        facts_dir,
        ("1997-08-21", "50,000", ""),
        ("1998-01-15", "32,500", "17,500"),
        ("1998-01-22", "50,000", ""),
    )
    events = run(facts, as_of=date(1998, 2, 1))
    assert on(events, "test", "5.2", "1998-01-23")["result"] == "compliant"
    assert not pick(events, "breach", "5.2")


def test_a_shortfall_still_within_its_days_is_pending_not_passed(facts_dir):
    facts = reserve(facts_dir, ("1997-08-21", "50,000", ""), ("1998-01-15", "32,500", "17,500"))
    events = run(facts, as_of=date(1998, 1, 20))
    pending = on(events, "not_tested", "5.2", "1998-01-15")
    assert "17500 must be restored by 1998-01-23" in pending["reason"]
    assert not pick(events, "breach", "5.2")


def test_a_shortfall_whose_days_end_after_the_last_date_there_is_stays_pending(facts_dir):
    # Section 5.2's five Business Days from Monday, December 27, 9999 would end in the year
    # 10000 (28, 29, 30 and 31 are four): no as-of date can reach its deadline. It stopped the
    # run with exit 6 (OverflowError) before.
    facts = reserve(facts_dir, ("1997-08-21", "50,000", ""), ("9999-12-27", "32,500", "17,500"))
    events = run(facts, as_of=date(9999, 12, 31))
    pending = on(events, "not_tested", "5.2", "9999-12-27")
    assert pending["reason"].endswith(
        "its 5 Business Days to restore 17500 end after 9999-12-31, the last date there is"
    )
    assert not pick(events, "breach", "5.2")


def filings(facts, *rows):
    write_table(
        facts / "cerplex",
        "filings",
        [{"document": d, "filed": f, "delivered": v} for d, f, v in rows],
    )
    return facts


def test_a_10q_delivered_on_day_20_complies_and_on_day_21_breaches(facts_dir):
    # SPA Section 5(a): "within twenty (20) days of the filing". Filed November 14, 1997:
    # December 4 is day 20 (complies, equality); December 5 is day 21, a breach from that day.
    facts = filings(
        facts_dir,
        ("10-Q 1997Q3 on time", "1997-11-14", "1997-12-04"),
        ("10-Q 1997Q3 late", "1997-11-14", "1997-12-05"),
    )
    events = run(facts, as_of=date(1998, 1, 1))
    on_time = on(events, "test", "SPA 5(a)", "1997-12-04")
    assert (on_time["value"], on_time["threshold"], on_time["result"]) == ("20", "20", "compliant")
    late = on(events, "breach", "SPA 5(a)", "1997-12-05")
    assert (late["period"], late["value"], late["headroom"]) == ("10-Q 1997Q3 late", "21", "-1")
    assert late["unit"] == "days" and late["breach_when"] == "above"
    default = on(events, "default", "SPA 5(a)", "1997-12-05")
    assert "Stock Purchase Agreement" in default["reason"]
    # The Stock Purchase Agreement has no Events of Default, and its breach is no Default under
    # the Notes.
    assert not pick(events, "event_of_default", "SPA 5(a)")


def test_a_filing_not_delivered_breaches_from_day_21_and_is_pending_before(facts_dir):
    facts = filings(facts_dir, ("10-K 1997", "1998-03-31", ""))
    pending = run(facts, as_of=date(1998, 4, 20))  # day 20
    assert (
        "copies due by 1998-04-20" in on(pending, "not_tested", "SPA 5(a)", "1998-03-31")["reason"]
    )
    late = run(facts, as_of=date(1998, 4, 21))
    breach = on(late, "breach", "SPA 5(a)", "1998-04-21")
    assert breach["note"] == "filed 1998-03-31; not delivered by 1998-04-20"


def test_a_filing_whose_20_days_end_at_or_after_the_last_date_there_is(facts_dir):
    # SPA Section 5(a)'s twenty days from December 11, 9999 end on December 31, 9999, the last
    # date there is; from December 20 they would end in January 10000. Neither copy is late on
    # December 31, and neither can be on any date a run can be as of; a copy delivered on day
    # 11 complies. They stopped the run with exit 6 (OverflowError) before.
    facts = filings(
        facts_dir,
        ("10-Q 9999Q3", "9999-12-11", ""),
        ("10-K 9999", "9999-12-20", ""),
        ("10-K 9999 delivered", "9999-12-20", "9999-12-31"),
    )
    events = run(facts, as_of=date(9999, 12, 31))
    pending = on(events, "not_tested", "SPA 5(a)", "9999-12-11")
    assert pending["reason"] == "filed 9999-12-11; copies due by 9999-12-31"
    pending = on(events, "not_tested", "SPA 5(a)", "9999-12-20")
    assert pending["reason"] == "filed 9999-12-20; copies due 20 days later, after 9999-12-31"
    delivered = on(events, "test", "SPA 5(a)", "9999-12-31")
    assert (delivered["value"], delivered["result"]) == ("11", "compliant")
    assert not [e for e in pick(events, "breach", "SPA 5(a)") if e.date.year == 9999]


def test_a_spa_default_does_not_block_capitalized_interest(facts_dir):
    # A late 10-Q breaches the Stock Purchase Agreement, not the Notes: the Initial Capitalized
    # Interest Amount of August 19, 1997 is still added (4.1(b)(i)).
    filings(facts_dir, ("10-Q 1997Q2", "1997-07-01", "1997-08-01"))
    write_table(
        facts_dir / "cerplex",
        "notes",
        [
            {
                "holder": "Holder A",
                "existing_outstanding_principal": "1,000,000",
                "initial_capitalized_interest_amount": "47,500",
            }
        ],
    )
    events = run(facts_dir, as_of=date(1997, 9, 1))
    assert pick(events, "breach", "SPA 5(a)")
    paid = on(events, "interest_payment", "4.1", "1997-08-19")
    assert paid["capitalized"] == "47500.00" and not pick(events, "pik_blocked")


def wells_fargo(facts, *rows):
    write_table(
        facts / "cerplex",
        "wells_fargo",
        [
            {
                "date": d,
                "debt_outstanding": debt,
                "term_loan_permanent_reductions": term,
                "revolving_permanent_reductions": revolving,
            }
            for d, debt, term, revolving in rows
        ],
    )
    return facts


def test_senior_debt_cap_flags_the_excess_without_a_default(facts_dir):
    # Section 9.1 "Senior Debt" (a) as amended: $31,390,000 + $4,900,000 = $36,290,000, less
    # Permanent Reductions. On June 27, 1998: 36,290,000 - 15,000,000 - 2,000,000 = 19,290,000;
    # Wells Fargo debt of 20,000,000 exceeds it by 710,000, which is not Senior Debt.
    facts = wells_fargo(facts_dir, ("1998-06-27", "20,000,000", "15,000,000", "2,000,000"))
    events = run(facts, as_of=date(1998, 7, 1))
    excess = on(events, "senior_debt_excess", "9.1", "1998-06-27")
    assert (excess["value"], excess["threshold"], excess["excess"]) == (
        "20000000",
        "19290000",
        "710000",
    )
    assert excess["plus"]["value"] == "-17000000"
    assert not pick(events, "default", "9.1") and not pick(events, "breach", "9.1")


def test_senior_debt_exactly_at_the_cap_is_all_senior_debt(facts_dir):
    # Equality is within the cap: 36,290,000 - 1,290,000 = 35,000,000.
    facts = wells_fargo(facts_dir, ("1997-09-27", "35,000,000", "1,290,000", "0"))
    events = run(facts, as_of=date(1997, 10, 1))
    assert on(events, "test", "9.1", "1997-09-27")["result"] == "compliant"
    assert not pick(events, "senior_debt_excess")
