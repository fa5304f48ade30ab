"""The command-line contract: run / log / report, exit codes, JSON fields, help."""

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import EXAMPLE_FACTS, ROOT, RULES, Store
from engine import audit, runner, store
from engine.cli import main
from engine.lifecycle import ATTENTION
from engine.notify import KINDS


@pytest.fixture
def db(store_log: Store) -> Path | str:
    """The contract holds on both stores."""
    return store_log.db


def cli(*args: str) -> int:
    return main(list(args))


def run_example(db: Path, *extra: str) -> int:
    return cli("run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db), *extra)


def log_json(db: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert cli("log", "--db", str(db), "--json") == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_run_exits_1_on_new_breaches_then_0_on_a_rerun(db, capsys):
    assert run_example(db) == 1
    out = capsys.readouterr().out
    assert "6.18     breach" in out and "[First Amendment Agreement" in out
    assert run_example(db) == 0
    assert "0 new event(s)" in capsys.readouterr().out


def test_run_lists_each_facilitys_events_by_date_in_columns(tmp_path, capsys):
    """The log records the covenants' lifecycle before the Notes' ledger; `run` prints them by
    date, so the Section 4.1 election notice for February 19, 1998 (dated from the payment
    date before it, August 19, 1997) comes before the Revolving Loan Reduction of September
    2, 1997, and the covenant and kind columns line up whatever their width ("SPA 5(a)",
    "initial_amount_accelerated")."""
    assert run_example(tmp_path / "log.db", "--as-of", "1998-12-31") == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:2] == "19"]
    assert [line[:10] for line in lines] == sorted(line[:10] for line in lines)

    def first(start: str) -> int:
        return next(n for n, line in enumerate(lines) if line.startswith(start))

    notice = "1997-08-19  cerplex    4.1      notice_required            notice to each"
    assert first(notice) < first("1997-09-02  cerplex    4.2      revolving_loan_reduction   1997")
    assert first("1997-12-05  cerplex    SPA 5(a) breach                     10-Q 1997Q3") > 0
    assert first("1997-09-02  cerplex    4.1      initial_amount_accelerated The ") > 0


def test_run_lists_waivers_suspensions_and_reinstatement_dates_with_clauses(db, capsys):
    run_example(db)
    out = capsys.readouterr().out
    for word in (
        "waived",
        "suspended",
        "reinstatement_date",
        "event_of_default",
        "amount_due",
        "notice_required",
    ):
        assert word in out
    assert "Waiver and Amendment Agreement (1996-10-31), Section 1" in out


def _listed(out: str, kind: str) -> int:
    """How many events of this kind `run` listed, a line each (its kind between spaces)."""
    return len(re.findall(rf"^\d{{4}}-\d\d-\d\d .* {kind} ", out, re.MULTILINE))


def test_run_counts_the_terms_it_records_and_lists_them_only_when_verbose(tmp_path, capsys):
    """The terms recorded are routine: the agreement's, each of its ten covenants' (rules/
    cerplex: 4.2, 5.2, 6.3, 6.4, 6.18 to 6.21, SPA 5(a) and the Section 9.1 cap) and Section
    4.1's interest terms of the Notes are counted, and listed only with --verbose."""
    terms = {"agreement_terms": 1, "covenant_terms": 10, "interest_terms": 1}
    assert run_example(tmp_path / "quiet.db") == 1
    out = capsys.readouterr().out
    assert "1 agreement terms, 10 covenant terms, 1 interest terms," in out
    # The covenant tests are counted as "N tests", one for each test event the run recorded.
    counted = re.search(r", (\d+) tests; 0 already in the log\.$", out, re.MULTILINE)
    recorded = [e for e in audit.read(tmp_path / "quiet.db") if e.event == "test"]
    assert counted is not None and int(counted[1]) == len(recorded) > 1
    assert [_listed(out, kind) for kind in terms] == [0, 0, 0]
    assert _listed(out, "event_of_default") > 0
    assert run_example(tmp_path / "verbose.db", "--verbose") == 1
    out = capsys.readouterr().out
    assert {kind: _listed(out, kind) for kind in terms} == terms
    # First Amendment Agreement, Exhibit A item 1, Section 4.1(a)(i) and (ii); Recital B.
    rates = "9.50% from 1997-02-19, 15% from 1997-08-19; maturity 2001-11-19"
    assert f"interest_terms             Interest; Capitalized Interest Amounts: {rates}" in out


def test_run_exits_0_when_nothing_needs_attention(db, tmp_path, capsys):
    facts = tmp_path / "facts" / "cerplex"
    facts.mkdir(parents=True)
    (facts / "revolver.csv").write_text(
        "date,revolving_loans_outstanding,revolving_loans_available\n1997-10-01,4900000,0\n"
    )
    assert (
        cli("run", "--facts", str(tmp_path / "facts"), "--rules", str(RULES), "--db", str(db)) == 0
    )


def test_log_json_carries_the_contract_fields(db, capsys):
    run_example(db)
    events = log_json(db, capsys)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for e in events:
        assert {"event", "agreement", "covenant", "date"} <= e.keys()
    breach = next(e for e in events if e["event"] == "breach" and e["covenant"] == "6.18")
    assert (breach["date"], breach["value"], breach["threshold"]) == (
        "1997-09-27",
        "-1600000",
        "-1458000",
    )
    assert "row 'September 30, 1997'" in breach["clause"]
    amounts = [e for e in events if e["event"] == "amount_due" and e["covenant"] == "4.2"]
    assert sorted(e["amount"] for e in amounts) == ["329762.02", "412202.53", "82440.51"]
    assert {e["due_date"] for e in amounts} == {"1997-09-02"}
    notice = next(e for e in events if e["event"] == "notice_required" and e["covenant"] == "4.2")
    assert (notice["covenant"], notice["deadline"]) == ("4.2", "1997-09-02")
    rlr = next(e for e in events if e["event"] == "revolving_loan_reduction")
    assert (rlr["value"], rlr["threshold"]) == ("4850000", "4886984")
    waived = [e for e in events if e["event"] == "waived"]
    assert {(e["covenant"], e["instrument"]) for e in waived} == {
        ("6.3", "waiver-1996-10-31"),
        ("6.4", "waiver-1996-10-31"),
    }
    suspended = next(e for e in events if e["event"] == "suspended")
    assert (suspended["covenant"], suspended["date"]) == ("6.4", "1996-11-15")
    assert {(e["covenant"], e["date"]) for e in events if e["event"] == "reinstatement_date"} == {
        ("6.3", "1996-11-22"),
        ("6.4", "1996-11-22"),
    }
    assert {e["covenant"] for e in events} == {
        None,
        "4.1",
        "4.2",
        "5.2",
        "9.1",
        "SPA 5(a)",
        "6.3",
        "6.4",
        "6.18",
        "6.19",
        "6.20",
        "6.21",
    }


def test_as_of_limits_the_run(db, capsys):
    assert run_example(db, "--as-of", "1997-09-01") == 1
    events = log_json(db, capsys)
    assert max(e["date"] for e in events) <= "1997-09-01"
    assert not any(e["event"] == "revolving_loan_reduction" for e in events)


def test_the_last_date_there_is_may_be_the_as_of_date(db, capsys):
    """December 31, 9999 has no next day: the Notes' ledger, which moves every day, gives no
    later as-of date at which a run would find more, and the report looks ahead no further.
    Both stopped with exit 6 (an OverflowError, a ValueError) before."""
    assert run_example(db, "--as-of", "9999-12-31") == 1
    assert run_example(db, "--as-of", "9999-12-31") == 0
    assert "0 new event(s)" in capsys.readouterr().out
    assert cli("report", "--db", str(db)) == 0
    assert "9999-12-31" in capsys.readouterr().out


def test_report_markdown_and_json(db, tmp_path, capsys):
    run_example(db)
    capsys.readouterr()
    assert cli("report", "--db", str(db)) == 0
    md = capsys.readouterr().out
    assert "| 6.21 | Minimum Consolidated Tangible Net Worth | event of default |" in md
    assert "$412,202.53" in md
    assert "Reinstatement Date 1996-11-22" in md
    out = tmp_path / "report.json"
    assert cli("report", "--db", str(db), "--format", "json", "--out", str(out)) == 0
    model = json.loads(out.read_text())
    (agreement,) = model["agreements"]
    status = {c["section"]: c["status"] for c in agreement["covenants"]}
    assert status["6.18"] == "compliant"  # 1998Q4: $5,000,000 exactly
    assert status["6.21"] == "event_of_default"
    assert sorted(a["amount"] for a in agreement["amounts_due"] if a["covenant"] == "4.2") == [
        "329762.02",
        "412202.53",
        "82440.51",
    ]
    # Section 4.2's notice, then the 4.1(c) election notice recorded for February 19, 1998.
    assert [n["deadline"] for n in agreement["notices_owed"]] == ["1997-09-02", "1998-02-13"]
    # The dates ahead as a calendar file: as of the day before the election notice was due,
    # its deadline (Section 4.1(c)(i)), then the interest payable on February 19, 1998.
    out = tmp_path / "dates.ics"
    ics = ["--format", "ics", "--out", str(out), "--as-of", "1998-02-12"]
    assert cli("report", "--db", str(db), *ics) == 0
    text = out.read_bytes().decode()  # RFC 5545's lines end in CRLF
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    starts = re.findall(r"^DTSTART;VALUE=DATE:(\d{8})\r$", text, re.MULTILINE)
    assert starts[:2] == ["19980213", "19980219"]


def test_report_thin_headroom_limit_from_the_command_line(db, capsys):
    """Section 6.18, 1998Q1: (350,000) against a minimum of (391,000), headroom 41,000, 10.49%
    of the threshold: thin below a limit of 10.5%, not below the default 10%."""
    run_example(db)

    def thin(*limit: str) -> list[str]:
        capsys.readouterr()
        as_of = ["--as-of", "1998-03-31", "--format", "json"]
        assert cli("report", "--db", str(db), *as_of, *limit) == 0
        (agreement,) = json.loads(capsys.readouterr().out)["agreements"]
        return [w["covenant"] for w in agreement["summary"]["thin_headroom"]]

    assert "6.18" not in thin()
    assert "6.18" in thin("--thin-headroom", "10.5")
    # Section 6.20, 1998Q1: 0.455 against 0.45, 1.11%; Section 4.2, 13,016 / 4,886,984, 0.27%
    assert thin("--thin-headroom", "1.11") == ["4.2"]


def test_report_escapes_borrower_text(db, tmp_path, capsys):
    facts = tmp_path / "facts" / "cerplex"
    facts.mkdir(parents=True)
    (facts / "events.csv").write_text(
        "date,event,covenant,instrument,note\n1996-12-28,reported_breach,6.3,,"
        "<script>alert(1)</script> | x\n"
    )
    cli("run", "--facts", str(tmp_path / "facts"), "--rules", str(RULES), "--db", str(db))
    capsys.readouterr()
    cli("report", "--db", str(db))
    md = capsys.readouterr().out
    assert "<script>" not in md


def test_log_without_a_database_is_a_clear_error(tmp_path, capsys):
    assert cli("log", "--db", str(tmp_path / "none.db")) == 2
    assert "run `covenant-monitor run` first" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--as-of", "31/12/1997"], "is not a date"),
        (["report", "--as-of", "1997-02-30"], "is not a date"),
        (["report", "--thin-headroom", "ten"], "is not a percentage"),
        (["report", "--thin-headroom", "-5"], "is not a percentage"),
        (["report", "--format", "pdf"], "invalid choice"),
        (["log", "--known-as-of", "yesterday"], "is not a date-time such as"),
        (["report", "--known-as-of", "2026-13-01T00:00"], "is not a date-time such as"),
        (["log", "--known-as-of", "0001-01-01T00:00:00+01:00"], "is too early to place in time"),
        (["run", "--wait", "-1"], "is not a number of seconds"),
        (["run", "--wait", "soon"], "is not a number of seconds"),
        (["run", "--workers", "0"], "is not a number of processes from 1 to 256"),
        (["report", "--workers", "two"], "is not a number of processes from 1 to 256"),
        (["report", "--thin-headroom", "NaN"], "is not a percentage"),
        (["run", "--webhook", "ftp://hooks.example"], "is not an http:// or https:// address"),
        (["run", "--smtp", "mail.example:0"], "is not an SMTP server"),
        (["run", "--log-format", "xml"], "invalid choice"),
        (["report", "--out", "/nonexistent-folder/r.md"], "there is no folder"),
    ],
)
def test_bad_usage_exits_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(*args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_bug_exits_6_with_its_traceback_not_1(log_format, tmp_path, monkeypatch, capsys):
    """Python's own exit for an uncaught exception is 1, which says "new events recorded" to a
    scheduler (the systemd unit counts 1 as success)."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "execute", broken)
    code = run_example(tmp_path / "log.db", "--log-format", log_format)
    assert code == 6
    err = capsys.readouterr().err
    assert "stopped by an unexpected error: RuntimeError('a bug')" in err
    if log_format == "json":
        (line,) = err.splitlines()
        assert 'raise RuntimeError("a bug")' in json.loads(line)["traceback"]
    else:
        assert err.startswith("Traceback (most recent call last):")


@pytest.mark.parametrize("command", [[], ["run"], ["log"], ["verify"], ["report"]])
def test_help_explains_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(*command, "--help")
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes" in text or "--db" in text
    if command == ["run"]:
        assert "--as-of" in text and "nothing was written" in text


def test_run_help_names_every_kind_that_exits_1_and_every_kind_alerted(capsys):
    """`run --help` had listed 6 of the 10 kinds that exit 1 once payment_overdue, pik_blocked
    and senior_debt_excess were added; it now lists them from the sets that decide."""
    with pytest.raises(SystemExit):
        cli("run", "--help")
    text = " ".join(capsys.readouterr().out.split())
    exit_1 = text[text.index(" 1 the run recorded") : text.index(" 2 bad input")]
    alerted = text[text.index("alerts: Send new") : text.index("A failed delivery")]
    assert set(re.findall(r"\b[a-z]+(?:_[a-z]+)*\b", exit_1)) >= set(ATTENTION)
    assert {kind for kind in ATTENTION if kind in alerted} == KINDS
    assert "revolving_loan_reduction" not in alerted  # its notice and amounts are alerted


def test_python_dash_m_engine_runs_the_command(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            "--db",
            str(tmp_path / "x.db"),
            "--as-of",
            "1996-12-31",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "reinstatement_date" in result.stdout


def test_an_audit_log_that_cannot_be_opened_is_a_clear_error(tmp_path, capsys):
    assert run_example(tmp_path / "no" / "such" / "folder" / "x.db") == 2
    assert "cannot use the audit log" in capsys.readouterr().err


def test_a_borrower_folder_without_an_agreement_is_reported(db, tmp_path, capsys):
    (tmp_path / "facts" / "acme").mkdir(parents=True)
    (tmp_path / "facts" / "cerplex").mkdir()
    assert (
        cli("run", "--facts", str(tmp_path / "facts"), "--rules", str(RULES), "--db", str(db)) == 0
    )
    assert "no agreement" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["log --json", "report --format json"])
def test_output_into_a_pipe_closed_early_is_quiet(command: str, db, capsys):
    """The reader has all it wants (`| head`); both write as they go, and stop quietly."""
    run_example(db)
    piped = subprocess.run(
        f"'{sys.executable}' -m engine {command} --db '{db}' | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert piped.stdout.count("\n") == 1
    assert piped.stderr == ""  # no BrokenPipeError traceback


def test_a_progress_bar_on_a_terminal_and_nothing_on_a_pipe(tmp_path):
    """Standard error on a terminal (a pseudo-terminal here) shows each stage of the run,
    ending at 1/1 facilities; on a pipe it stays empty."""
    command = [sys.executable, "-m", "engine", "run", "--rules", str(RULES)]
    command += ["--facts", str(EXAMPLE_FACTS), "--as-of", "2026-01-01"]
    code, shown = _on_a_terminal([*command, "--db", str(tmp_path / "tty.db")])
    assert code == 1
    for stage in ("evaluating", "comparing with the log", "recording"):
        assert re.search(rf"{stage} +\[#{{30}}\] 1/1 facilities".encode(), shown), shown
    piped = subprocess.run(
        [*command, "--db", str(tmp_path / "pipe.db")], capture_output=True, cwd=ROOT, check=False
    )
    assert piped.returncode == 1 and piped.stderr == b""


def test_a_report_shows_its_progress_on_a_terminal_and_nothing_on_a_pipe(tmp_path):
    """A report of a book reads every facility's events and draws a chart of every covenant of
    the facilities it details (minutes at ten thousand): on a terminal standard error shows
    both stages, on a pipe only where the report was written. The example is one facility
    whose agreement declares ten covenants (rules/cerplex: 4.2, 5.2, 6.3, 6.4, 6.18 to 6.21,
    SPA 5(a) and the senior debt cap of 9.1), so ten charts."""
    db = tmp_path / "log.db"
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db)]
    assert main([*args, "--as-of", "1998-12-31"]) == 1
    command = [sys.executable, "-m", "engine", "report", "--db", str(db), "--format", "html"]
    code, shown = _on_a_terminal([*command, "--out", str(tmp_path / "tty.html")])
    assert code == 0
    assert re.search(rb"reading the log +\[#{30}\] 1/1 facilities", shown), shown
    assert re.search(rb"drawing charts +\[#{30}\] 10/10 charts", shown), shown
    piped = subprocess.run(
        [*command, "--out", str(tmp_path / "pipe.html")], capture_output=True, cwd=ROOT, check=False
    )
    assert piped.returncode == 0
    assert piped.stderr.decode() == f"report written to {tmp_path / 'pipe.html'}\n"


def _on_a_terminal(command: list[str]) -> tuple[int, bytes]:
    """The command's exit code and what it wrote to standard error, a pseudo-terminal."""
    leader, follower = pty.openpty()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=follower, cwd=ROOT, check=False
    )
    os.close(follower)
    shown = b""
    while chunk := _read_some(leader):
        shown += chunk
    os.close(leader)
    return done.returncode, shown


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other side is closed: all read
        return b""


def test_log_format_json_gives_one_object_per_line_errors_included(db, tmp_path, capsys):
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    path = facts / "cerplex" / "revolver.csv"
    path.write_text(path.read_text().replace("1997-09-15", "1997-09-31"))
    code = cli(
        "run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db), "--log-format", "json"
    )
    assert code == 2
    (error,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert not store.exists(db) and not Path(f"{db}.lock").exists()
    assert error["level"] == "error"
    assert error["message"] == "bad input, nothing was written"
    assert error["problems"] == [
        {
            "file": str(path),
            "row": 8,
            "column": "date",
            "key": None,
            "message": "'1997-09-31' is not a date; expected YYYY-MM-DD",
        }
    ]


def test_log_format_json_keeps_its_message_when_an_event_has_one(db, tmp_path, capsys):
    """Without notes.csv the Section 4.2 acceleration cannot price the Notes: the data_missing
    event says so in a `message` detail, which must not replace the line's own."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    for name in ("notes.csv", "note_payments.csv"):
        (facts / "cerplex" / name).unlink()
    code = cli(
        "run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db), "--log-format", "json"
    )
    assert code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    missing = [line for line in lines if line.get("event") == "data_missing"]
    assert missing and all(line["message"] == "recorded" for line in missing)
    assert all("notes.csv" in line["detail_message"] for line in missing)


def test_verify_needs_an_existing_log(tmp_path, capsys):
    assert cli("verify", "--db", str(tmp_path / "none.db")) == 2
    assert "no audit log at" in capsys.readouterr().err


def test_log_prints_only_the_kinds_of_event_asked_for(db, capsys):
    """The example's missed payments (note_payments.csv pays nothing after May 19, 1998): for
    each of the three Notes, 42 monthly interest payments and the principal, and the three
    Section 4.2 accelerations paid 13 days late: 132 payment_overdue events, with the example's
    12 events of default."""
    run_example(db, "--as-of", "2026-01-01")
    capsys.readouterr()
    assert cli("log", "--db", str(db), "--event", "payment_overdue") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 132 and all(" payment_overdue " in line for line in lines)
    args = ["log", "--db", str(db), "--json", "--event", "payment_overdue"]
    assert cli(*args, "--event", "event_of_default") == 0
    kinds = Counter(json.loads(line)["event"] for line in capsys.readouterr().out.splitlines())
    assert kinds == {"payment_overdue": 132, "event_of_default": 12}
    assert cli("log", "--db", str(db), "--event", "payment_overdu") == 0
    out, err = capsys.readouterr()
    assert out == "" and "no payment_overdu event to print" in err


def test_log_prints_only_the_covenants_asked_for(db, capsys):
    """Section 6.21's history as of March 31, 1998: its two breaches, each of a Consolidated
    Tangible Net Worth under the floor in force (First Amendment, Exhibit A item 6): November
    29, 1997, ($15,400,000) against ($15,365,000); January 31, 1998, ($14,700,000) against
    ($14,642,000). With 9.1's, which never breached, nothing more; a section the log does not
    name is said on standard error."""
    run_example(db, "--as-of", "1998-03-31")
    capsys.readouterr()
    args = ["log", "--db", str(db), "--covenant", "6.21"]
    assert cli(*args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(
        line[19:30] == "cerplex    " and line[30:39] == "6.21     " for line in lines
    )
    assert cli(*args, "--covenant", "9.1", "--event", "breach") == 0
    breaches = capsys.readouterr().out.splitlines()
    assert [(line[7:17], line[30:38]) for line in breaches] == [
        ("1997-11-29", "6.21    "),
        ("1998-01-31", "6.21    "),
    ]
    assert "($15,400,000) vs minimum ($15,365,000)" in breaches[0]
    assert "($14,700,000) vs minimum ($14,642,000)" in breaches[1]
    assert cli("log", "--db", str(db), "--json", "--covenant", "SPA 5(a)") == 0
    covenants = {json.loads(line)["covenant"] for line in capsys.readouterr().out.splitlines()}
    assert covenants == {"SPA 5(a)"}
    assert cli("log", "--db", str(db), "--covenant", "6.2") == 0
    out, err = capsys.readouterr()
    assert out == "" and "no event of covenant 6.2 to print" in err


def test_log_since_prints_what_runs_recorded_from_that_moment(db, capsys):
    """A reviewer's "what is new since I last looked": a run as of March 31, 1998, then one as
    of June 30. The second records the breaches of 6.21 on May 30 ((10,800,000) against the
    $8,000,000 from May 2, 1998) and of 6.18, 6.20 and 6.21 on June 27 (First Amendment,
    Exhibit A items 3, 5 and 6); `log --since` a moment between the runs prints its events
    alone."""
    run_example(db, "--as-of", "1998-03-31")
    between = datetime.now(UTC)
    run_example(db, "--as-of", "1998-06-30")
    first, second = sorted({e["run"] for e in log_json(db, capsys)})
    args = ["log", "--db", str(db), "--json", "--since", between.isoformat()]
    assert cli(*args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events and {e["run"] for e in events} == {second}
    assert cli(*args, "--event", "breach") == 0
    breaches = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(b["covenant"], b["date"]) for b in breaches] == [
        ("6.21", "1998-05-30"),
        ("6.18", "1998-06-27"),
        ("6.20", "1998-06-27"),
        ("6.21", "1998-06-27"),
    ]
    # A bare date is the start of that day: both runs were recorded today.
    assert (
        cli("log", "--db", str(db), "--json", "--since", between.astimezone().date().isoformat())
        == 0
    )
    runs = {json.loads(line)["run"] for line in capsys.readouterr().out.splitlines()}
    assert runs == {first, second}
