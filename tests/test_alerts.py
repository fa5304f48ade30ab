"""Alerts: new breaches, defaults, events of default, amounts due, notices and restatements go
out by e-mail (to an SMTP server the test starts on 127.0.0.1) and by webhook (a local HTTP
server); a failed delivery exits 3, loses nothing and is sent on the next run; nothing is sent
twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import EXAMPLE_FACTS, RULES
from engine import audit
from engine.cli import main
from engine.notify import KINDS
from engine.report import one_line


def alerting(db: Path) -> list[audit.StoredEvent]:
    """The events in the log of the kinds that alert."""
    return [e for e in audit.read(db) if e.event in KINDS]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.seen.append((dict(self.headers), json.loads(body)))
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.seen, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hook"


def run(db: Path, *extra: str, facts: Path = EXAMPLE_FACTS) -> int:
    return main(["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db), *extra])


def test_an_email_lists_what_needs_attention_once(tmp_path, store_log, smtp, capsys):
    controller, mailbox = smtp
    db = store_log.db
    flags = ["--email-to", "agent@lender.example", "--smtp", f"127.0.0.1:{controller.port}"]
    assert run(db, *flags) == 1
    ((to, message),) = mailbox.messages
    assert to == ["agent@lender.example"]
    body = message.get_content()
    sent = alerting(db)
    assert {e.event for e in sent} == KINDS - {"restatement"}
    assert message["Subject"].startswith(f"covenant-monitor: {len(sent)} new (")
    assert [line for line in body.splitlines() if line.startswith("[")] == [
        f"[{e.seq}] {one_line(e)}" for e in sent
    ]
    assert "1997-11-29  cerplex    6.21     event_of_default" in body
    assert "$412,202.53 due 1997-09-02" in body
    # note_payments.csv pays nothing after May 19, 1998: the missed payments are alerted.
    assert "the interest due 1998-06-19 ($108,598.63) not paid that day" in body
    assert " test " not in body  # routine tests are not alerts
    assert f"notified email:agent@lender.example of {len(sent)} event(s)" in capsys.readouterr().out

    assert run(db, *flags) == 0
    assert len(mailbox.messages) == 1  # nothing new, nothing sent


def test_a_webhook_posts_the_events_as_json(tmp_path, store_log, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    db = store_log.db
    config = tmp_path / "alerts.toml"
    config.write_text(f'[[notify.webhook]]\nurl = "{url(webhook)}"\nsecret_env = "HOOK_SECRET"\n')
    assert run(db, "--config", str(config)) == 1
    ((headers, body),) = webhook.seen
    assert [e["seq"] for e in body["events"]] == [e.seq for e in alerting(db)]
    assert body["events"][0] == alerting(db)[0].as_json()
    assert all(isinstance(e["seq"], int) and e["clause"] for e in body["events"])
    assert headers["Content-Type"] == "application/json"
    assert len(headers["Idempotency-Key"]) == 64
    raw = json.dumps(body, sort_keys=True).encode()
    expected = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["X-Covenant-Monitor-Signature"] == f"sha256={expected}"


def test_a_failed_webhook_exits_3_and_is_retried_on_the_next_run(
    tmp_path, store_log, webhook, capsys
):
    db = store_log.db
    config = tmp_path / "alerts.toml"
    config.write_text(
        f'[notify]\nattempts = 2\nbackoff_seconds = 0\n[[notify.webhook]]\nurl = "{url(webhook)}"\n'
    )
    webhook.statuses = [500, 503]
    assert run(db, "--config", str(config)) == 3
    err = capsys.readouterr().err
    recorded = alerting(db)  # the events themselves are in the log: nothing lost
    assert recorded
    assert f"could not notify webhook:{url(webhook)} of {len(recorded)} event(s) after 2 " in err
    assert "sent on the next run" in err
    assert len(webhook.seen) == 2

    assert run(db, "--config", str(config)) == 0  # no new event; the pending ones go out
    assert len(webhook.seen) == 3
    assert [e["seq"] for e in webhook.seen[-1][1]["events"]] == [e.seq for e in recorded]

    assert run(db, "--config", str(config)) == 0
    assert len(webhook.seen) == 3  # delivered once, never again


def test_an_smtp_server_that_is_down_is_retried_when_it_is_back(tmp_path, store_log, capsys):
    db = store_log.db
    mailbox = Mailbox()
    port = free_port()  # nothing listens on it yet
    config = tmp_path / "alerts.toml"
    config.write_text(
        "[notify]\nattempts = 1\n[[notify.email]]\n"
        f'to = ["agent@lender.example"]\nsmtp = "127.0.0.1:{port}"\n'
    )
    assert run(db, "--config", str(config)) == 3
    assert "could not notify email:agent@lender.example" in capsys.readouterr().err
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert run(db, "--config", str(config)) == 0
    finally:
        controller.stop()
    ((_, message),) = mailbox.messages
    assert message["Subject"].startswith(f"covenant-monitor: {len(alerting(db))} new (")


def test_a_restatement_is_alerted(tmp_path, store_log, webhook):
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    db = store_log.db
    run(db, "--webhook", url(webhook), facts=facts)
    path = facts / "cerplex" / "financials.csv"
    path.write_text(path.read_text().replace('"(15,400,000)"', '"(15,300,000)"'))
    assert run(db, "--webhook", url(webhook), facts=facts) == 1
    ((_, body),) = webhook.seen[1:]
    ((restatement,),) = [[e for e in body["events"] if e["event"] == "restatement"]]
    assert restatement["changes"][0]["new"] == "-15300000"


def test_a_channel_added_later_is_not_sent_the_history(tmp_path, store_log, webhook):
    db = store_log.db
    assert run(db) == 1
    assert run(db, "--webhook", url(webhook)) == 0
    assert webhook.seen == []


EMAIL = '[[notify.email]]\nto = "a@b.example"\nsmtp = "mail.example:587"\n'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[[notify.webhook]]\nurl = "ftp://x"\n', "key notify.webhook[0].url: 'ftp://x' is not"),
        ('[[notify.email]]\nto = "a@b.example"\nsmtp = "h:99999"\n', "key notify.email[0].smtp"),
        ('[[notify.email]]\nto = ["nobody"]\nsmtp = "h"\n', "key notify.email[0].to"),
        ("[notify]\nattempts = 0\n", "key notify.attempts: a whole number from 1 to 10"),
        ("[notify]\nretries = 3\n", "key notify.retries: unknown key"),
        ("[notfy]\n", "key notfy: unknown key"),
        ("[notify\n", "cannot read the configuration"),
        # "false" in quotes is text, which would have read as true.
        (f'{EMAIL}starttls = "false"\n', "key notify.email[0].starttls: true or false"),
        (f"{EMAIL}username = 7\n", "key notify.email[0].username: non-empty text"),
        (f'{EMAIL}username = "desk"\n', "key notify.email[0].password_env: a login takes both"),
        (f'{EMAIL}password_env = "PW"\n', "key notify.email[0].username: a login takes both"),
        (
            f'{EMAIL}username = "desk"\npassword_env = "PW"\n',
            "key notify.email[0].starttls: a login needs starttls = true",
        ),
        (f'{EMAIL}from = ""\n', "key notify.email[0].from: non-empty text"),
        (
            '[[notify.webhook]]\nurl = "https://h.example"\nsecret_env = ["S"]\n',
            "key notify.webhook[0].secret_env: non-empty text",
        ),
    ],
)
def test_a_bad_configuration_is_refused_before_anything_is_written(
    tmp_path, capsys, config, message
):
    path = tmp_path / "alerts.toml"
    path.write_text(config)
    assert run(tmp_path / "log.db", "--config", str(path)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "log.db").exists()


def test_email_flags_need_a_server(tmp_path, capsys):
    assert run(tmp_path / "log.db", "--email-to", "a@b.example") == 2
    assert "--email-to needs --smtp" in capsys.readouterr().err


@pytest.fixture
def smtp_tls(tmp_path, monkeypatch) -> Iterator[tuple[Controller, Mailbox, list]]:
    """A server that takes mail only after STARTTLS and a login ("desk", "s3cret"), its
    certificate issued by a test authority this process is told to trust (SSL_CERT_FILE)."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    authority.cert_pem.write_to_path(str(tmp_path / "authority.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "authority.pem"))
    logins: list = []

    def authenticate(server, session, envelope, mechanism, data):  # aiosmtpd's hook
        logins.append((data.login, data.password))
        return AuthResult(success=(data.login, data.password) == (b"desk", b"s3cret"))

    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield controller, mailbox, logins
    finally:
        controller.stop()


def login_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "alerts.toml"
    config.write_text(
        "[notify]\nattempts = 1\n[[notify.email]]\n"
        f'to = ["agent@lender.example"]\nsmtp = "127.0.0.1:{port}"\nstarttls = true\n'
        'username = "desk"\npassword_env = "SMTP_PASSWORD"\n'
    )
    return config


def test_an_email_goes_over_starttls_with_a_login_whose_password_is_in_the_environment(
    tmp_path, store_log, smtp_tls, monkeypatch, capsys
):
    controller, mailbox, logins = smtp_tls
    db, config = store_log.db, login_config(tmp_path, controller.port)
    # Unset, the delivery fails, the events wait, and no login is tried without a password.
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    assert run(db, "--config", str(config)) == 3
    err = capsys.readouterr().err
    assert "the environment variable SMTP_PASSWORD (the SMTP password) is not set" in err
    assert logins == [] and mailbox.messages == []
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    assert run(db, "--config", str(config)) == 0
    assert logins == [(b"desk", b"s3cret")]
    ((to, message),) = mailbox.messages
    assert to == ["agent@lender.example"]
    assert message["Subject"].startswith(f"covenant-monitor: {len(alerting(db))} new (")


def test_an_untrusted_certificate_is_not_sent_a_password(
    tmp_path, store_log, smtp_tls, monkeypatch, capsys
):
    controller, mailbox, logins = smtp_tls
    monkeypatch.delenv("SSL_CERT_FILE")  # the test authority is trusted no more
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    assert run(store_log.db, "--config", str(login_config(tmp_path, controller.port))) == 3
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
    assert logins == [] and mailbox.messages == []


def test_a_webhook_whose_secret_is_unset_is_not_sent_unsigned(
    tmp_path, store_log, webhook, monkeypatch, capsys
):
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    config = tmp_path / "alerts.toml"
    config.write_text(
        "[notify]\nattempts = 1\n[[notify.webhook]]\n"
        f'url = "{url(webhook)}"\nsecret_env = "HOOK_SECRET"\n'
    )
    assert run(store_log.db, "--config", str(config)) == 3
    err = capsys.readouterr().err
    assert "the environment variable HOOK_SECRET (the webhook secret) is not set" in err
    assert webhook.seen == []


def books_of_the_example(tmp_path: Path, *names: str) -> Path:
    """A book of facilities, each a copy of the example's facts following its agreement."""
    book = tmp_path / "book"
    for name in names:
        shutil.copytree(EXAMPLE_FACTS / "cerplex", book / name)
        (book / name / "facility.toml").write_text(
            f'[facility]\nagreement = "cerplex"\nborrower = "{name.title()} Inc."\n'
        )
    return book


def test_an_emails_subject_names_a_few_facilities_of_a_book(tmp_path, smtp):
    """A book's first run alerts every facility with something new: the subject names three
    and counts the rest (five copies of the example: "and 2 more facilities"), where it had
    named them all, tens of kilobytes for thousands; the body still lists every event."""
    controller, mailbox = smtp
    book = books_of_the_example(tmp_path, "alpha", "bravo", "charlie", "delta", "echo")
    db = tmp_path / "log.db"
    flags = ["--email-to", "desk@lender.example", "--smtp", f"127.0.0.1:{controller.port}"]
    assert run(db, *flags, facts=book) == 1
    ((_, message),) = mailbox.messages
    sent = alerting(db)
    assert message["Subject"].endswith(" for alpha, bravo, charlie and 2 more facilities")
    assert message["Subject"].startswith(f"covenant-monitor: {len(sent):,} new (")
    body = [line for line in message.get_content().splitlines() if line.startswith("[")]
    assert len(body) == len(sent) and {e.agreement for e in sent} == {
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
    }


def test_a_webhook_is_sent_a_books_events_in_posts_of_at_most_a_batch(
    tmp_path, store_log, webhook, capsys
):
    """Two copies of the example alert 736 events (368 each): posts of 500 and 236, each with
    its own Idempotency-Key. The second refused, the first stays delivered and the rest
    pending; the next run sends the 236 alone."""
    db, book = store_log.db, books_of_the_example(tmp_path, "alpha", "bravo")
    config = tmp_path / "alerts.toml"
    config.write_text(
        f'[notify]\nattempts = 2\nbackoff_seconds = 0\n[[notify.webhook]]\nurl = "{url(webhook)}"\n'
    )
    webhook.statuses = [200, 500, 503]
    assert run(db, "--config", str(config), facts=book) == 3
    recorded = [e.seq for e in alerting(db)]
    assert len(recorded) == 736
    assert [len(body["events"]) for _, body in webhook.seen] == [500, 236, 236]
    assert [e["seq"] for e in webhook.seen[0][1]["events"]] == recorded[:500]
    err = capsys.readouterr().err
    assert f"could not notify webhook:{url(webhook)} of 236 event(s) (500 sent before it)" in err

    assert run(db, "--config", str(config), facts=book) == 0
    assert [e["seq"] for e in webhook.seen[-1][1]["events"]] == recorded[500:]
    keys = {headers["Idempotency-Key"] for headers, _ in webhook.seen}
    assert len(keys) == 2  # the 236 tried three times under one key, the 500 under another
    assert run(db, "--config", str(config), facts=book) == 0
    assert len(webhook.seen) == 4  # delivered once, never again
