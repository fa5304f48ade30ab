"""The HTML report: self-contained, escaped, and checked in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from chromium import Page

from conftest import EXAMPLE_FACTS, RULES
from engine import audit, report
from engine.cli import main
from engine.report import charts
from engine.report.charts import AxisLabels
from engine.report.html import headroom_meter

SECTIONS = ["4.2", "5.2", "6.3", "6.4", "6.18", "6.19", "6.20", "6.21", "9.1", "SPA 5(a)"]
CHARTED = ["4.2", "5.2", "6.18", "6.19", "6.20", "6.21", "9.1", "SPA 5(a)"]  # 6.3, 6.4: no metric


# The page's in-page links that land nowhere, as JavaScript for Page.evaluate.
BROKEN_LINKS = """[...document.querySelectorAll('a[href^="#"]')]
    .filter(a => !document.getElementById(a.getAttribute('href').slice(1)))
    .map(a => a.getAttribute('href'))"""


def html_report(tmp_path: Path, facts: Path = EXAMPLE_FACTS, *options: str) -> Path:
    db, out = tmp_path / "log.db", tmp_path / "report.html"
    main(["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)])
    assert main(["report", "--db", str(db), "--format", "html", "--out", str(out), *options]) == 0
    return out


def sections_of(report: Path) -> dict[str, str]:
    """Each covenant's section of the report, its HTML by its section number."""
    return dict(re.findall(r'data-section="([^"]+)"(.*?)</section>', report.read_text(), re.S))


@pytest.fixture(scope="module")
def march_1998(tmp_path_factory) -> Path:
    return html_report(tmp_path_factory.mktemp("html"), EXAMPLE_FACTS, "--as-of", "1998-03-31")


def test_the_report_loads_in_chromium_with_no_errors_and_every_part_present(march_1998, tmp_path):
    with Page(tmp_path / "profile") as page:
        page.open(march_1998.as_uri())
        shot = page.screenshot(tmp_path / "report.png")
        found = page.evaluate(
            """({
            summary: !!document.querySelector('#summary .agreement-summary'),
            warnings: document.querySelector('.warnings')?.innerText ?? '',
            sections: [...document.querySelectorAll('section.covenant')]
                .map(s => s.dataset.section),
            charts: [...document.querySelectorAll('section.covenant figure.chart svg')]
                .map(svg => ({
                section: svg.closest('section.covenant').dataset.section,
                width: svg.getBoundingClientRect().width,
                height: svg.getBoundingClientRect().height,
                paths: svg.querySelectorAll('path').length,
            })),
            timelines: document.querySelectorAll('ol.timeline li').length,
            appendix: document.querySelectorAll('#appendix tr[id^="event-"]').length,
            brokenLinks: """
            + BROKEN_LINKS
            + """,
        })"""
        )
    assert page.errors == []
    assert page.requests == [march_1998.as_uri()]  # nothing fetched but the file itself
    assert found["summary"]
    assert "Thin headroom" in found["warnings"]
    assert "must improve by $5,350,000 to comply" in found["warnings"]  # 6.18, June 30, 1998
    assert found["sections"] == SECTIONS
    assert [c["section"] for c in found["charts"]] == CHARTED
    assert all(c["width"] > 400 and c["height"] > 100 and c["paths"] > 5 for c in found["charts"])
    assert found["timelines"] > 0 and found["appendix"] > 0
    assert found["brokenLinks"] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_every_charts_labels_are_inside_it_and_clear_of_its_axes(march_1998, tmp_path):
    """The margins are worked out from the tick labels (charts._margins), not by drawing the
    chart twice: the reader's browser, with its own sans-serif, shows every label whole, the
    y-axis labels left of the plot and the dates below it."""
    with Page(tmp_path / "profile") as page:
        page.open(march_1998.as_uri())
        found = page.evaluate(
            """[...document.querySelectorAll('section.covenant figure.chart svg')].map(svg => {
            const box = svg.getBoundingClientRect();
            const plot = svg.querySelector('[id^="patch_2"]').getBoundingClientRect();
            const texts = [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect());
            const y = [...svg.querySelectorAll('[id^="ytick_"] text')]
                .map(t => t.getBoundingClientRect());
            const x = [...svg.querySelectorAll('[id^="xtick_"] text')]
                .map(t => t.getBoundingClientRect());
            return {
                labels: texts.length,
                outside: texts.filter(r => r.left < box.left || r.right > box.right
                    || r.top < box.top || r.bottom > box.bottom).length,
                yOverPlot: y.filter(r => r.right > plot.left).length,
                xOverPlot: x.filter(r => r.top < plot.bottom).length,
            };
        })"""
        )
    assert len(found) == len(CHARTED)
    for chart in found:
        assert chart["labels"] > 8  # ticks on both axes and the legend
        assert (chart["outside"], chart["yOverPlot"], chart["xOverPlot"]) == (0, 0, 0)


def test_every_summary_figure_fits_its_card_in_chromium(tmp_path):
    """Run through the maturity, the example's amounts due total $29,177,291.72 and the Notes'
    holders are owed $141,789,139.25 or more: figures of 14 and 15 characters, which ran out of
    their cards (cut off by the next) when every card was one grid column of 165 pixels."""
    with Page(tmp_path / "profile", width=1024) as page:
        page.open(html_report(tmp_path).as_uri())
        found = page.evaluate(
            """[...document.querySelectorAll('.card .n')].map(n => ({
                text: n.innerText,
                over: n.scrollWidth - n.clientWidth,
            }))"""
        )
    assert any(len(card["text"]) >= 14 for card in found)
    assert [card for card in found if card["over"] > 0] == []


def test_a_folder_of_pages_links_its_pages_in_chromium(tmp_path):
    """`--out book/`: the portfolio view links the facility to its page, which links back; the
    page holds every section, each bracketed number lands on its event in the page's own
    appendix, and neither page fetches anything but itself."""
    db, book = tmp_path / "log.db", tmp_path / "book"
    main(["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db)])
    options = ["--format", "html", "--out", f"{book}/", "--as-of", "1998-03-31"]
    assert main(["report", "--db", str(db), *options]) == 0
    index, facility = (book / "index.html").as_uri(), (book / "facilities/cerplex.html").as_uri()
    with Page(tmp_path / "profile") as page:
        page.open(index)
        assert page.evaluate("document.querySelector('#portfolio td a').href") == facility
        page.open(facility)
        found = page.evaluate(
            """({
            back: document.querySelector('nav.toc a').href,
            header: document.querySelector('p.meta').innerText,
            sections: [...document.querySelectorAll('section.covenant')]
                .map(s => s.dataset.section),
            cited: document.querySelectorAll('a.seq').length,
            brokenLinks: """
            + BROKEN_LINKS
            + """,
        })"""
        )
    assert page.errors == []
    assert page.requests == [index, facility]
    assert found["back"] == index
    assert "on a portfolio of 1 facility (the portfolio view)" in found["header"]
    assert found["sections"] == SECTIONS
    assert found["cited"] > 0 and found["brokenLinks"] == []


def test_borrower_text_stays_text_in_the_browser(tmp_path):
    facts = tmp_path / "facts" / "cerplex"
    facts.mkdir(parents=True)
    (facts / "events.csv").write_text(
        "date,event,covenant,instrument,note\n"
        '1996-12-28,reported_breach,6.3,,"<script>window.pwned = 1</script><img src=x '
        'onerror=""window.pwned = 2""> & more"\n'
    )
    out = html_report(tmp_path, tmp_path / "facts")
    text = out.read_text()
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in text
    with Page(tmp_path / "profile") as page:
        page.open(out.as_uri())
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert "<script>window.pwned = 1</script>" in page.evaluate("document.body.innerText")
    assert page.errors == []


def test_charts_whose_tests_reach_the_last_date_there_is(tmp_path):
    """A chart's axis runs 45 days past its last test, or to December 31, 9999 where no later
    date is: a revolver row of that day (Section 4.2) stopped the report with exit 6 (an
    OverflowError) before. Every charted covenant still has its chart."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    with (facts / "cerplex" / "revolver.csv").open("a") as revolver:
        revolver.write('9999-12-31,"4,000,000",0,\n')
    db, out = tmp_path / "log.db", tmp_path / "report.html"
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    assert main([*run, "--as-of", "9999-12-31"]) == 1
    assert main(["report", "--db", str(db), "--format", "html", "--out", str(out)]) == 0
    assert sorted(s for s, body in sections_of(out).items() if "<svg" in body) == sorted(CHARTED)


def test_a_chart_of_a_little_over_four_years_gets_its_date_ticks_without_a_warning(tmp_path):
    """SPA 5(a)'s table begins June 10, 1996; a 10-Q filed April 1, 2000 and never delivered
    is late from April 22, 2000 (day 21). With 45 days either side the chart spans April 26,
    1996 to June 6, 2000, 49 months: matplotlib found no step of months for it and warned on
    the terminal (here, where a warning is an error, the report exited 6)."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    (facts / "cerplex" / "filings.csv").write_text("document,filed,delivered\n10-Q,2000-04-01,\n")
    assert "<svg" in sections_of(html_report(tmp_path, facts))["SPA 5(a)"]


@pytest.mark.parametrize("tracked", [True, False])
def test_a_prepayment_quote_in_the_html_report(tmp_path, tracked):
    """Section 4.1(e), open through August 19, 1998. As of March 1, 1998 each holder's quote is
    its Base Principal Amount with 9.50% interest for the 12 days (30/360) since February 19:
    8,625,000 x 0.095 x 12 / 360 = 27,312.50, so $8,652,312.50; 6,900,000 + 21,850.00 =
    $6,921,850.00; 1,725,000 + 5,462.50 = $1,730,462.50. Without note_payments.csv it assumes
    what was due was paid. With the payments tracked the quote has no assumption, and the
    report stopped with exit 6 for the want of one."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    if not tracked:
        (facts / "cerplex" / "note_payments.csv").unlink()
    db, out = tmp_path / "log.db", tmp_path / "report.html"
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    assert main([*run, "--as-of", "1998-03-01"]) == 1
    assert main(["report", "--db", str(db), "--format", "html", "--out", str(out)]) == 0
    text = out.read_text()
    quoted = re.findall(r"prepaying on 1998-03-01: <strong>([^<]*)</strong>", text)
    assert quoted == ["$8,652,312.50", "$6,921,850.00", "$1,730,462.50"]
    assumes = "; assumes every amount due before this date was paid (payments are not tracked)"
    assert text.count(assumes) == (0 if tracked else 3)


def test_the_file_stands_alone_and_is_the_same_every_time(march_1998, tmp_path):
    text = march_1998.read_text()
    assert "default-src 'none'" in text  # the browser refuses anything from outside
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script" not in text
    again = html_report(tmp_path, EXAMPLE_FACTS, "--as-of", "1998-03-31")
    # Each run's as-of date is shown, never the time it ran, so the same log reads the same.
    assert again.read_text() == text


def test_a_chart_drawn_where_others_were_is_the_one_drawn_alone(march_1998):
    """A process draws its charts on one figure, emptied for each (a new one took two fifths
    of a chart's time): nothing of a chart stays for the next, ratio or dollars, a breach
    marked or not, in whichever order they come."""
    model = report.build(audit.read(march_1998.parent / "log.db"))
    day, through = model["state_on"], model["horizon"]["through"]
    covenants = [c for c in model["agreements"][0]["covenants"] if c["section"] in CHARTED]
    assert {c["unit"] for c in covenants} == {"ratio", "USD", "days"}
    assert any(t["result"] != "compliant" for c in covenants for t in c["tests"])

    def drawn(covenant: dict, fresh: bool) -> str | None:
        if fresh:
            charts._figure.cache_clear()
        return charts.covenant_chart(covenant, day, through)

    alone = [drawn(c, fresh=True) for c in covenants]
    assert all(alone) and len(set(alone)) == len(CHARTED)
    assert [drawn(c, fresh=False) for c in covenants] == alone
    assert [drawn(c, fresh=False) for c in reversed(covenants)] == alone[::-1]


@pytest.mark.parametrize(
    ("headroom", "kind", "width"),
    [
        ("10.49", "ample", "42"),  # 6.18, 1998Q1: 10.49% of a full scale of 25%
        ("3.53", "thin", "14"),  # 6.19, 1998Q1: under the 10% limit
        ("0.00", "thin", "3"),  # equality complies, with no room at all (a sliver shows)
        ("-111.25", "below", "100"),  # 6.21, 1998-12-26: far below; the bar is full and red
    ],
)
def test_the_headroom_meter(headroom, kind, width):
    test = {"headroom_percent": headroom, "headroom": headroom, "threshold": "100"}
    assert headroom_meter(test, "10") == {"kind": kind, "width": width}


@pytest.mark.parametrize(
    ("labels", "ticks", "expected"),
    [
        # Quarter-million gridlines: one decimal wrote $4.8m at $4,750,000 and $5.2m at $5.25m.
        (
            AxisLabels.millions(),
            [4_500_000, 4_750_000, 5_000_000, 5_250_000],
            ["$4.50m", "$4.75m", "$5.00m", "$5.25m"],
        ),
        # Whole half-millions: one decimal suffices.
        (AxisLabels.millions(), [-1_500_000, 0, 1_500_000], ["-$1.5m", "$0.0m", "$1.5m"]),
        # 6.19's minimum of 0.425 to 1.00 sits between gridlines 0.40 and 0.45 at 0.025 steps.
        (AxisLabels.ratio(), [0.4, 0.425, 0.45], ["0.400", "0.425", "0.450"]),
        (AxisLabels.ratio(), [1.0, 1.5, 2.0], ["1.00", "1.50", "2.00"]),
    ],
)
def test_a_charts_axis_labels_state_their_gridlines_values(labels, ticks, expected):
    assert labels.format_ticks(ticks) == expected
