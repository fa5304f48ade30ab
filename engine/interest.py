"""Interest over time: the Default Rate as it changes with the prime rate, counted 30/360
(Section 4.1(a); the convention is `conventions.DayCount.THIRTY_360`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from .conventions import DayCount
from .facts import PrimeRate
from .rules import Cited, RateFloor
from .values import later

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RatePiece:
    """The Default Rate over [start, end): the greater of the floor and the prime in effect."""

    start: date
    end: date
    rate_percent: Decimal
    basis: str

    @property
    def days(self) -> int:
        return DayCount.THIRTY_360.days(self.start, self.end)


@dataclass(frozen=True)
class Accrual:
    principal: Decimal
    interest: Decimal  # rounded to the cent, half up
    pieces: tuple[RatePiece, ...]

    @property
    def total(self) -> Decimal:
        return (self.principal + self.interest).quantize(CENT)

    @property
    def days(self) -> int:
        return sum(p.days for p in self.pieces)


def first_undeclared(floors: tuple[RateFloor, ...], start: date, end: date) -> date | None:
    """The first day of [start, end) on which no Default Rate is declared: `start`, or a day
    after one floor's end, whichever no floor covers."""
    after = (later(f.end, timedelta(days=1)) for f in floors if f.end is not None)
    days = [start, *(day for day in after if day is not None)]
    covered = [(f.start, f.end or date.max) for f in floors]
    return min(
        (d for d in days if start <= d < end and not any(a <= d <= b for a, b in covered)),
        default=None,
    )


def default_rate_pieces(
    floors: tuple[RateFloor, ...],
    primes: tuple[PrimeRate, ...],
    start: date,
    end: date,
    cap: Cited | None = None,
) -> tuple[RatePiece, ...]:
    """Split [start, end) wherever the floor or the prime rate changes; the rate is the lesser
    of `cap` (the highest lawful rate, when configured) and the greater of floor and prime."""
    cuts = {start, end}
    for floor in floors:
        cuts.add(floor.start)
        if floor.end is not None:
            cuts.add(floor.end + relativedelta(days=1))
    cuts.update(p.date for p in primes)
    bounds = sorted(d for d in cuts if start <= d <= end)
    pieces = []
    for a, b in itertools.pairwise(bounds):
        floor = next((f for f in floors if f.start <= a and (f.end is None or a <= f.end)), None)
        if floor is None:
            raise ValueError(f"no Default Rate is declared for {a}")
        prime = next((p for p in reversed(primes) if p.date <= a), None)
        if prime is None:
            rate = floor.floor_percent
            basis = (
                f"{floor.floor_percent}% floor ({floor.source}); no prime rate in effect on "
                f"{a} is given in prime_rate.csv, so the floor is used"
            )
        else:
            rate = max(floor.floor_percent, prime.rate_percent)
            basis = (
                f"greater of the {floor.floor_percent}% floor ({floor.source}) and the prime "
                f"rate of {prime.rate_percent}% in effect from {prime.date} ({prime.origin.cited})"
            )
        if cap is not None and cap.value < rate:
            rate, basis = (
                cap.value,
                (f"the highest lawful rate of {cap.value}% ({cap.source}), less than the {basis}"),
            )
        pieces.append(RatePiece(a, b, rate, basis))
    return tuple(pieces)


def accrue(principal: Decimal, pieces: tuple[RatePiece, ...]) -> Accrual:
    """Simple interest over the pieces, rounded once at the end."""
    exact = sum((principal * p.rate_percent / 100 * p.days / 360 for p in pieces), Decimal(0))
    return Accrual(principal, exact.quantize(CENT, rounding=ROUND_HALF_UP), pieces)
