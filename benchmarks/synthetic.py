"""A deterministic synthetic portfolio on the Cerplex covenant package, for benchmarks.

Each facility is a folder `f000000`, `f000001`, ... with a `facility.toml` that follows
`rules/cerplex`, a `financials.csv` with one row per fiscal quarter from 1997Q3, and a
`revolver.csv` with one row per quarter, two weeks before its end (the Section 4.2 test dates).
Every seventh facility has an override of its own (Section 6.20 at 1.05 from 1999Q1). Figures
are drawn so that most tests comply and about one in a hundred fails, as in a real book. The
same arguments always give the same files.

    python benchmarks/synthetic.py OUT_DIR FACILITIES QUARTERS
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from dateutil.relativedelta import relativedelta

FINANCIALS = (
    "period_end,fiscal_quarter,net_income,gain_on_sale_pcs,accounts_receivable,inventory,"
    "wells_fargo_debt,current_assets,current_liabilities,tangible_net_worth,"
    "net_securities_proceeds,note"
)
REVOLVER = "date,revolving_loans_outstanding,revolving_loans_available,note"
FIRST_QUARTER = (1997, 3)
OVERRIDE = """
[[facility.override]]
covenant = "6.20"
from = "1999Q1"
minimum = "1.05"
source = "Synthetic facility agreement, Section 6.20 (benchmark data, not from the documents)"
"""


def quarters(count: int) -> Iterator[tuple[str, date]]:
    year, quarter = FIRST_QUARTER
    for _ in range(count):
        end = date(year, 3 * quarter, 1) + relativedelta(months=1, days=-1)
        yield f"{year}Q{quarter}", end
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


def rows(facility: int, count: int, seed: int) -> tuple[list[str], list[str]]:
    """The financials and revolver rows of one facility: thousands of dollars, whole."""
    draw = random.Random(seed * 1_000_003 + facility)
    financials, revolver = [], []
    for name, end in quarters(count):
        liabilities = draw.randint(15_000, 25_000)
        assets = int(liabilities * draw.uniform(1.08, 1.6))
        debt = draw.randint(8_000, 12_000)
        receivables = int(debt * draw.uniform(0.6, 0.8))
        income = draw.randint(5_200, 9_000) if draw.random() > 0.004 else 4_000
        worth = draw.randint(5_500, 20_000)
        figures = [income, 0, receivables, debt // 5, debt, assets, liabilities, worth, 0]
        financials.append(f"{end},{name}," + ",".join(f"{v * 1000}" for v in figures) + ",")
        outstanding = draw.randint(3_000, 3_500)
        available = draw.randint(1_900, 2_500) if draw.random() > 0.004 else 1_000
        day = end - relativedelta(days=14)
        revolver.append(f"{day},{outstanding * 1000},{available * 1000},")
    return financials, revolver


def facility_toml(facility: int) -> str:
    text = f'[facility]\nagreement = "cerplex"\nborrower = "Synthetic Borrower {facility}"\n'
    return text + (OVERRIDE if facility % 7 == 0 else "")


def write(root: Path, facilities: int, count: int, seed: int = 6) -> int:
    """Write the portfolio under `root`; the number of facts (rows) written."""
    for facility in range(facilities):
        folder = root / f"f{facility:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        financials, revolver = rows(facility, count, seed)
        (folder / "facility.toml").write_text(facility_toml(facility))
        (folder / "financials.csv").write_text("\n".join([FINANCIALS, *financials]) + "\n")
        (folder / "revolver.csv").write_text("\n".join([REVOLVER, *revolver]) + "\n")
    return facilities * count * 2


if __name__ == "__main__":
    out, facilities, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(f"{write(out, facilities, count)} facts written under {out}")
