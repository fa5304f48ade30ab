"""The scheduling recipes in deploy/ say what the CLI accepts: their commands parse, their
alert configuration loads, and the service's command, pointed at the example, runs."""

import json
import re
import shlex
from pathlib import Path

from conftest import ROOT
from engine.cli import build_parser, main
from engine.notify import Email, Webhook, load_config

DEPLOY = ROOT / "deploy"


def service_command() -> list[str]:
    text = (DEPLOY / "covenant-monitor.service").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


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
    args = [
        a.replace("/opt/covenant-monitor", str(ROOT)).replace(
            "/var/lib/covenant-monitor", str(tmp_path)
        )
        for a in service_command()[1:]
    ]
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
