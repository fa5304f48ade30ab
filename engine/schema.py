"""The controller's tables and their columns: the vocabulary rules and facts share.

A metric in a rule file may name only the amount columns of one table below, so a rule can never
read a field that the facts loader does not check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache, cached_property


class Kind(StrEnum):
    DATE = "date"
    AMOUNT = "amount"
    PERCENT = "percent"
    QUARTER = "quarter"
    TEXT = "text"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True  # must appear in the header (a cell may still be blank where allowed)
    non_negative: bool = False  # an amount that cannot be below zero (a balance, a debt)
    # A figure reported only at a fiscal quarter's end: a row holding one is a quarter-end row.
    quarter_end: bool = False
    # A figure an interim balance sheet reports: a row with no quarter-end figure holds one.
    interim: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @cached_property
    def amount_columns(self) -> tuple[str, ...]:
        """Its columns of amounts, in order."""
        return tuple(c.name for c in self.columns if c.kind is Kind.AMOUNT)

    @cached_property
    def amount_fields(self) -> frozenset[str]:
        return frozenset(self.amount_columns)

    @cached_property
    def non_negative(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.non_negative)

    @cached_property
    def quarter_end_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.quarter_end)

    @cached_property
    def interim_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.interim)


FINANCIALS = Table(
    "financials",
    (
        Column("period_end", Kind.DATE),
        Column("fiscal_quarter", Kind.QUARTER, required=False),
        Column("net_income", Kind.AMOUNT, quarter_end=True),
        Column(
            "gain_on_sale_pcs", Kind.AMOUNT, required=False, non_negative=True, quarter_end=True
        ),
        Column("accounts_receivable", Kind.AMOUNT, non_negative=True, quarter_end=True),
        Column("inventory", Kind.AMOUNT, non_negative=True, quarter_end=True),
        Column("wells_fargo_debt", Kind.AMOUNT, non_negative=True, quarter_end=True),
        Column("current_assets", Kind.AMOUNT, non_negative=True, quarter_end=True),
        Column("current_liabilities", Kind.AMOUNT, non_negative=True, quarter_end=True),
        Column("tangible_net_worth", Kind.AMOUNT, interim=True),
        Column("net_securities_proceeds", Kind.AMOUNT, required=False, non_negative=True),
        Column("note", Kind.TEXT, required=False),
    ),
)
REVOLVER = Table(
    "revolver",
    (
        Column("date", Kind.DATE),
        Column("revolving_loans_outstanding", Kind.AMOUNT, non_negative=True),
        Column("revolving_loans_available", Kind.AMOUNT, non_negative=True),
        Column("note", Kind.TEXT, required=False),
    ),
)
NOTES = Table(
    "notes",
    (
        Column("holder", Kind.TEXT),
        Column("initial_capitalized_interest_amount", Kind.AMOUNT, non_negative=True),
        # Principal on February 19, 1997, before the Initial Capitalized Interest Amount: what
        # the ledger of Section 4.1 starts from (First Amendment Schedule 3).
        Column("existing_outstanding_principal", Kind.AMOUNT, required=False, non_negative=True),
    ),
)
# The Company's elections to add Additional Capitalized Interest Amounts (Section 4.1(c)): the
# payment date and the date its written notice was given. An election covers every Note.
PIK_ELECTIONS = Table(
    "pik_elections",
    (
        Column("payment_date", Kind.DATE),
        Column("notice_date", Kind.DATE),
        Column("note", Kind.TEXT, required=False),
    ),
)
PRIME_RATE = Table(
    "prime_rate",
    (Column("date", Kind.DATE), Column("rate_percent", Kind.PERCENT)),
)
EVENTS = Table(
    "events",
    (
        Column("date", Kind.DATE),
        Column("event", Kind.TEXT),
        Column("covenant", Kind.TEXT, required=False),
        Column("instrument", Kind.TEXT, required=False),
        Column("note", Kind.TEXT, required=False),
    ),
)

# The counsel fee reserve held by the Noteholders' special counsel (First Amendment Section 5.2):
# the balance after each day's movements, and any amount applied against fees that day.
COUNSEL_RESERVE = Table(
    "counsel_reserve",
    (
        Column("date", Kind.DATE),
        Column("balance", Kind.AMOUNT, non_negative=True),
        Column("applied", Kind.AMOUNT, required=False, non_negative=True),
        Column("note", Kind.TEXT, required=False),
    ),
)
# Reports filed with the Commission and the day copies reached the investors (Stock Purchase
# Agreement Section 5(a)); `delivered` is blank until they have.
FILINGS = Table(
    "filings",
    (
        Column("document", Kind.TEXT),
        Column("filed", Kind.DATE),
        Column("delivered", Kind.DATE, required=False),
        Column("note", Kind.TEXT, required=False),
    ),
)

# Wells Fargo Credit Agreement Debt on the dates the controller reports it, with the Permanent
# Reductions of each facility to date (Section 9.1 as amended: the Senior Debt cap).
WELLS_FARGO = Table(
    "wells_fargo",
    (
        Column("date", Kind.DATE),
        Column("debt_outstanding", Kind.AMOUNT, non_negative=True),
        Column("term_loan_permanent_reductions", Kind.AMOUNT, non_negative=True),
        Column("revolving_permanent_reductions", Kind.AMOUNT, non_negative=True),
        Column("note", Kind.TEXT, required=False),
    ),
)

# Cash each holder received on the Notes, applied by the monitor to the oldest amount due first.
NOTE_PAYMENTS = Table(
    "note_payments",
    (
        Column("date", Kind.DATE),
        Column("holder", Kind.TEXT),
        Column("amount", Kind.AMOUNT, non_negative=True),
        Column("note", Kind.TEXT, required=False),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        NOTE_PAYMENTS,
        WELLS_FARGO,
        FINANCIALS,
        REVOLVER,
        NOTES,
        PRIME_RATE,
        EVENTS,
        PIK_ELECTIONS,
        COUNSEL_RESERVE,
        FILINGS,
    )
}

# The tables whose amounts a covenant's metric may read, and the date each row is tested on.
METRIC_TABLES: dict[str, Table] = {
    "financials": FINANCIALS,
    "revolver": REVOLVER,
    "wells_fargo": WELLS_FARGO,
}


@cache
def financials_for(figures: tuple[Column, ...], read: frozenset[str]) -> Table:
    """The financials table of an agreement: the built-in columns and the figures its
    agreement.toml declares (before `note`), each required in the header if one of its
    covenants reads it and not otherwise, so that a package with other covenants than
    Cerplex's does not ask its controller for Cerplex's columns. One table for each package,
    which its facilities share (headers are checked once for each table and header)."""
    *built_in, note = FINANCIALS.columns
    columns = [
        replace(c, required=c.required and (c.kind is not Kind.AMOUNT or c.name in read))
        for c in built_in
    ] + [replace(c, required=c.name in read) for c in figures]
    # An interim row must hold a figure tested at any time: one the covenants read, if any.
    interim = {c.name for c in columns if c.interim and c.name in read}
    if interim:
        columns = [replace(c, interim=c.name in interim) for c in columns]
    return Table("financials", (*columns, note))


class FactEvent(StrEnum):
    """What a row of events.csv may record."""

    REPORTED_BREACH = "reported_breach"  # a breach of a covenant the engine cannot compute
    SENIOR_DEBT_ACTION = "senior_debt_action"  # a holder of Senior Debt acts on a default
    CONDITIONS_SATISFIED = "conditions_satisfied"  # an instrument's conditions precedent are met
    # Payments on the Subordinated Debt postponed under Section 10 (a blockage period), and
    # the day the postponement ends (payments may resume on it).
    BLOCKAGE_START = "blockage_start"
    BLOCKAGE_END = "blockage_end"
