"""A headroom a dollar or so from a limit of millions, as a share of the threshold. The log keeps
the share to the hundredth of a percent, so it keeps 0.00 for a test a dollar inside Section
6.18's limit and -0.00 for one a dollar outside it; the reports must not show either as
equality, nor draw a breach's meter as a compliant one, nor sort it with an equality."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import EXAMPLE_FACTS, RULES
from engine import audit, report
from engine.cli import main
from engine.report.html import headroom_meter
from engine.report.text import percent

# First Amendment, Exhibit A item 3, Section 6.18's table: not less than $(16,609,000) for the
# quarter ending June 30, 1997 and $(1,458,000) for September 30, 1997 (the example's facts
# have (16,400,000) and (1,600,000)).
JUNE_1997, SEPTEMBER_1997 = "1997-06-28", "1997-09-27"


def facility(root: Path, name: str, net_income: dict[str, str]) -> None:
    """A copy of the example's facts, as a facility of the Cerplex package, with the net
    income of some quarters replaced, and June 1997's current ratio off its limit: the
    example's 14,100,000 / 30,000,000 = 0.47 equals Section 6.20's 0.47 to 1.00, where
    14,400,000 gives 0.48, 2.13% inside it."""
    folder = root / name
    shutil.copytree(EXAMPLE_FACTS / "cerplex", folder)
    (folder / "facility.toml").write_text(
        f'[facility]\nagreement = "cerplex"\nborrower = "{name.title()} Inc."\n'
    )
    path = folder / "financials.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    for row in rows:
        row["net_income"] = net_income.get(row["period_end"], row["net_income"])
        if row["period_end"] == JUNE_1997:
            row["current_assets"] = "14,400,000"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    """Alpha: a dollar inside the June 1997 limit, a dollar outside September's. Zeta: exactly
    at June's limit (equality complies), its September as the example's."""
    root = tmp_path_factory.mktemp("share")
    facts = root / "facts"
    facility(facts, "alpha", {JUNE_1997: "(16,608,999)", SEPTEMBER_1997: "(1,458,001)"})
    facility(facts, "zeta", {JUNE_1997: "(16,609,000)"})
    db = root / "log.db"
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    main([*run, "--as-of", "1997-12-31"])
    return db


def six_eighteen(db: Path, name: str, on: str) -> dict[str, dict]:
    """Section 6.18's tests of facility `name` in the report on `on`, by fiscal quarter."""
    model = report.build(audit.read(db), date.fromisoformat(on))
    (agreement,) = [a for a in model["agreements"] if a["agreement"] == name]
    (covenant,) = [c for c in agreement["covenants"] if c["section"] == "6.18"]
    return {t["period"]: t for t in covenant["tests"]}


def test_the_log_keeps_the_share_to_the_hundredth(log):
    tests = six_eighteen(log, "alpha", "1997-12-31")
    assert (tests["1997Q2"]["headroom"], tests["1997Q2"]["headroom_percent"]) == ("1", "0.00")
    assert (tests["1997Q3"]["headroom"], tests["1997Q3"]["headroom_percent"]) == ("-1", "-0.00")


def test_a_dollar_from_the_limit_reads_as_its_share_not_as_zero(log):
    alpha = six_eighteen(log, "alpha", "1997-12-31")
    zeta = six_eighteen(log, "zeta", "1997-12-31")
    # 1 / 16,609,000 = 0.0000000602...: 0.000006% at the first place that is not zero.
    assert percent(alpha["1997Q2"]) == "0.000006%"
    # -1 / 1,458,000 = -0.000000685...: -0.00007%.
    assert percent(alpha["1997Q3"]) == "-0.00007%"
    assert percent(zeta["1997Q2"]) == "0.00%"  # equality: no room at all
    # Section 6.18, 1997Q4: (700,000) against (838,000): 138,000 / 838,000 = 16.47%, as kept.
    assert percent(alpha["1997Q4"]) == "16.47%"


def test_a_breach_by_a_dollar_is_drawn_below_its_limit(log):
    tests = six_eighteen(log, "alpha", "1997-12-31")
    assert headroom_meter(tests["1997Q3"], "10")["kind"] == "below"
    assert headroom_meter(tests["1997Q2"], "10")["kind"] == "thin"


def test_a_dollar_inside_is_nearer_no_limit_than_equality(log):
    """The portfolio view puts the facility with the least headroom first among equals: zeta,
    at its limit, before alpha, a dollar inside it (by name alone, alpha would come first)."""
    model = report.build(audit.read(log), date(1997, 6, 30))
    rows = {r["facility"]: r for r in model["portfolio"]}
    assert rows["alpha"]["status"] == rows["zeta"]["status"]
    assert rows["alpha"]["nearest"]["covenant"] == rows["zeta"]["nearest"]["covenant"] == "6.18"
    assert [r["facility"] for r in model["portfolio"]] == ["zeta", "alpha"]


def test_every_format_shows_the_share(log, tmp_path):
    def rendered(fmt: str) -> Path:
        out = tmp_path / f"report.{fmt}"
        args = ["report", "--db", str(log), "--format", fmt, "--out", str(out)]
        assert main([*args, "--as-of", "1997-12-31", "--facility", "alpha"]) == 0
        return out

    markdown = rendered("md").read_text()
    assert "| 0.000006% |" in markdown and "| -0.00007% |" in markdown
    assert "0.00%" not in markdown.split("### 6.18")[1].split("###")[0].replace("16.47%", "")
    html = rendered("html").read_text()
    assert ">0.000006%<" in html and ">-0.00007%<" in html
    sheet = load_workbook(rendered("xlsx"))["Tests"]
    header = [c.value for c in sheet[1]]
    share = header.index("Headroom %")
    cells = {
        (row[header.index("Section")].value, row[header.index("Period")].value): row[share]
        for row in sheet.iter_rows(min_row=2)
    }
    june, september = cells[("6.18", "1997Q2")], cells[("6.18", "1997Q3")]
    assert june.value == pytest.approx(1 / 16_609_000) and june.number_format == "0.000000%"
    assert september.value == pytest.approx(-1 / 1_458_000)
    assert september.number_format == "0.00000%"
