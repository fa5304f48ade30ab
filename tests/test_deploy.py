"""The scheduling recipes in deploy/ say what the CLI accepts: their commands parse, their
alert configuration loads, and the service's command, pointed at the example, runs."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Store
from engine.cli import build_parser, main
from engine.notify import Email, Webhook, load_config

DEPLOY = ROOT / "deploy"
UNITS = ("covenant-monitor.service", "covenant-monitor-report.service", "covenant-monitor.timer")


def unit_settings(unit: str) -> dict[str, list[str]]:
    """Each key of a unit file with its values in order, continued lines joined."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / unit).read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def service_commands(unit: str, key: str = "ExecStart") -> list[list[str]]:
    return [shlex.split(line) for line in unit_settings(unit)[key]]


def service_command(unit: str = "covenant-monitor.service", key: str = "ExecStart") -> list[str]:
    (command,) = service_commands(unit, key)
    return command


def on_the_example(command: list[str], state: Path) -> list[str]:
    """A unit's command with its paths in this checkout and `state` for the state directory."""
    return [
        a.replace("/opt/covenant-monitor", str(ROOT)).replace(
            "/var/lib/covenant-monitor", str(state)
        )
        for a in command[1:]
    ]


def cron_command(name: str) -> list[str]:
    """The crontab's `name` command (run or report), after its cd and before its redirection."""
    lines = (DEPLOY / "crontab").read_text().splitlines()
    (line,) = [line for line in lines if line[:1].isdigit() and f" {name} " in line]
    command = line.split(None, 5)[5]  # after the five time fields
    return shlex.split(command.split("&&")[1].split(">>")[0])


def test_the_service_and_the_crontab_run_the_same_command():
    service, cron = service_command(), cron_command("run")
    assert service[0].endswith("/.venv/bin/covenant-monitor")
    assert cron[0] == ".venv/bin/covenant-monitor"
    for args in (service[1:], cron[1:]):
        parsed = build_parser().parse_args(args)
        assert parsed.command == "run"
        assert parsed.log_format == "json"
        assert parsed.verify  # a scheduled run walks the whole chain first
        assert parsed.db == Path("/var/lib/covenant-monitor/covenant-monitor.db")


def test_the_timer_runs_daily_and_catches_up():
    timer = (DEPLOY / "covenant-monitor.timer").read_text()
    assert "OnCalendar=*-*-* 06:15:00" in timer
    assert "Persistent=true" in timer


def test_the_example_alert_configuration_loads():
    notifier = load_config(DEPLOY / "alerts.toml")
    email, hook = notifier.channels
    assert isinstance(email, Email) and email.port == 587 and email.starttls
    assert isinstance(hook, Webhook) and hook.secret_env == "COVENANT_MONITOR_WEBHOOK_SECRET"
    assert notifier.attempts == 3


def test_the_service_command_runs_on_the_example(tmp_path, capsys):
    args = on_the_example(service_command(), tmp_path)
    at = args.index("--config")
    del args[at : at + 2]  # no mail server here
    assert main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["level"] for r in records} == {"info"}
    assert records[-1]["message"].startswith(f"{len(records) - 1} new event(s) recorded")
    assert len(records[-1]["head"]) == 64


def test_the_service_keeps_a_runs_temporary_folder_on_disk():
    """A run's temporary folder holds what it has evaluated (0.9 GB at 10,000 facilities);
    PrivateTmp gives the unit a /var/tmp of its own on disk, where /tmp may be tmpfs (RAM)."""
    lines = (DEPLOY / "covenant-monitor.service").read_text().splitlines()
    assert "PrivateTmp=yes" in lines
    assert "Environment=TMPDIR=/var/tmp" in lines


def test_the_crontabs_report_shows_a_week_of_changes_on_the_example(tmp_path, capsys):
    """The morning report: a folder of pages, compared to a week before the latest run's date
    (the example's run as of 1998-06-30 against June 23: the 6.18, 6.20 and 6.21 breaches of
    June 27, 1998, each an event of default, and the Senior Debt above 9.1's cap that day)."""
    args = [a.replace("/var/lib/covenant-monitor", str(tmp_path)) for a in cron_command("report")]
    facts = ["--rules", str(ROOT / "rules"), "--facts", str(ROOT / "facts")]
    db = ["--db", str(tmp_path / "covenant-monitor.db")]
    assert main(["run", *facts, *db, "--as-of", "1998-06-30"]) == 1
    assert main(args[1:]) == 0
    page = re.sub(r"<[^>]+>", "", (tmp_path / "report/facilities/cerplex.html").read_text())
    since = re.search(r"Breaches since 1998-06-23: (.*)", page).group(1)
    assert re.findall(r"(\S+) on (\S+) \[\d+\], ([^;]+)", since) == [
        ("6.18", "1998-06-27", "event of default"),
        ("6.20", "1998-06-27", "event of default"),
        ("6.21", "1998-06-27", "event of default"),
    ]
    assert "9.1 Senior Debt cap (Wells Fargo Credit Agreement Debt): compliant then" in page


def test_a_run_is_followed_by_the_report_as_the_same_user():
    """The report unit reads the log the run unit writes: same user, group and state directory,
    started after each run (wanted by it, ordered after it). A dynamic user (DynamicUser=yes,
    as the service had) keeps its state in /var/lib/private, which only root may enter, so no
    reviewer could have read a report."""
    run, report = unit_settings(UNITS[0]), unit_settings(UNITS[1])
    for unit in (run, report):
        assert unit["User"] == unit["Group"] == ["covenant-monitor"]
        assert unit["StateDirectory"] == ["covenant-monitor"]
        assert unit["StateDirectoryMode"] == ["0750"] and unit["UMask"] == ["0027"]
        assert "DynamicUser" not in unit
    assert "covenant-monitor-report.service" in run["Wants"][0].split()
    assert report["After"] == ["covenant-monitor.service"]
    sysusers = (DEPLOY / "covenant-monitor.sysusers").read_text().splitlines()
    (user,) = [shlex.split(line) for line in sysusers if line and not line.startswith("#")]
    assert user[:2] == ["u", "covenant-monitor"] and user[4] == "/var/lib/covenant-monitor"


def test_the_report_unit_verifies_the_log_then_reports_on_it(tmp_path):
    """The report unit's commands on the example's run as of June 30, 1998: the log verified,
    then the folder of pages beside the state a week before (June 23: the 6.18, 6.20 and 6.21
    breaches of June 27, 1998 are since), readable by the group under the unit's UMask=0027,
    and the calendar of the dates ahead through December 31, 1998: the Notes' interest on the
    19th of each month (Section 4.1(a)(x) and (y)), July to December; with a row of the log
    edited, verification stops it (exit 5) before any report."""
    run = on_the_example(service_command(), tmp_path)
    at = run.index("--config")
    del run[at : at + 2]
    verify = on_the_example(service_command(UNITS[1], "ExecStartPre"), tmp_path)
    report, calendar = (on_the_example(c, tmp_path) for c in service_commands(UNITS[1]))
    assert (verify[0], report[0], calendar[0]) == ("verify", "report", "report")
    for command in (verify, report, calendar):
        assert command[command.index("--db") + 1] == run[run.index("--db") + 1]
    assert main([*run, "--as-of", "1998-06-30"]) == 1
    umask = os.umask(0o027)
    try:
        assert main(verify) == 0
        assert main(report) == 0
        assert main(calendar) == 0
    finally:
        os.umask(umask)
    ics = (tmp_path / "dates-ahead.ics").read_text()
    assert re.findall(r"DTSTART;VALUE=DATE:(\d+)", ics) == [f"1998{m:02}19" for m in range(7, 13)]
    assert ics.count("SUMMARY:cerplex 4.1: interest payable on the Notes") == 6
    folder = tmp_path / "report"
    page = re.sub(r"<[^>]+>", "", (folder / "facilities/cerplex.html").read_text())
    assert "Breaches since 1998-06-23: 6.18 on 1998-06-27" in page
    assert (folder.stat().st_mode & 0o777, (folder / "index.html").stat().st_mode & 0o777) == (
        0o750,
        0o640,
    )
    Store("sqlite", tmp_path / "covenant-monitor.db").intrude(
        "UPDATE events SET details = replace(details, '-1600000', '-1000000')"
        " WHERE event = 'breach' AND covenant = '6.18' AND date = '1997-09-27'"
    )
    assert main(verify) == 5


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path):
    """systemd-analyze verify finds no unknown key, bad value or missing command in the units
    (with the command pointed at this environment's covenant-monitor)."""
    executable = Path(sys.executable).with_name("covenant-monitor")
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        (tmp_path / unit).write_text(
            text.replace("/opt/covenant-monitor/.venv/bin/covenant-monitor", str(executable))
        )
    checked = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / unit) for unit in UNITS)],
        capture_output=True,
        text=True,
    )
    assert (checked.returncode, checked.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_systemd_sysusers_accepts_the_user(tmp_path):
    """The user and group the units run as, as systemd-sysusers would create them in an empty
    root (a GECOS field holding ':' is refused: it separates /etc/passwd's fields)."""
    (tmp_path / "etc").mkdir()
    created = subprocess.run(
        [
            "systemd-sysusers",
            "--dry-run",
            f"--root={tmp_path}",
            DEPLOY / "covenant-monitor.sysusers",
        ],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    assert "Creating user 'covenant-monitor'" in created.stderr + created.stdout
