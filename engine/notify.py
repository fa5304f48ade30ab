"""Tell people what needs attention: e-mail (SMTP) and webhooks (a JSON POST).

Each channel is sent, once per run, every event of the kinds below that it has not yet
acknowledged, oldest first. A delivery is recorded in the audit log only after the server
accepted it, so a channel that is down gets the same events again on the next run: nothing is
lost. A run killed between the server's acceptance and that record sends them again (at least
once, never at most once); receivers can drop repeats by the events' `seq` or the
`Idempotency-Key` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import tomli

from . import audit
from .errors import InputError, Problem
from .lifecycle import ATTENTION
from .report import one_line
from .store import Location

# What is alerted: whatever needs attention, but a Revolving Loan Reduction, whose notice and
# amounts due are alerted themselves. Derived, so that a kind added to ATTENTION is alerted too.
KINDS = frozenset(ATTENTION) - {"revolving_loan_reduction"}
TIMEOUT = 10.0  # seconds for one attempt to connect and deliver
# Events a webhook's POST carries at most, some 350 KB of JSON: a book's first run alerts
# thousands, megabytes that receivers refuse, and a channel refused whole would fail every run.
WEBHOOK_BATCH = 500
SUBJECT_FACILITIES = 3  # facilities an e-mail's subject names; the body lists every event


class Channel(Protocol):
    @property
    def channel(self) -> str: ...

    @property
    def batch(self) -> int | None: ...  # events a message carries at most (None: all)

    def deliver(self, events: list[audit.StoredEvent]) -> None: ...


def _subject(events: list[audit.StoredEvent]) -> str:
    """A line a mail client shows whole: a book's first run alerts thousands of facilities,
    whose names would make a subject of tens of kilobytes."""
    kinds = sorted({e.event.replace("_", " ") for e in events})
    facilities = sorted({e.agreement for e in events})
    named = ", ".join(facilities[:SUBJECT_FACILITIES])
    if len(facilities) > SUBJECT_FACILITIES:
        named += f" and {len(facilities) - SUBJECT_FACILITIES:,} more facilities"
    return f"covenant-monitor: {len(events):,} new ({', '.join(kinds)}) for {named}"


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    host: str
    port: int = 25
    sender: str = "covenant-monitor@localhost"
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None  # the password is read from this environment variable

    @property
    def channel(self) -> str:
        return f"email:{','.join(sorted(self.to))}"

    @property
    def batch(self) -> None:
        return None  # one message: a list of a book's first run is a megabyte or two of text

    def deliver(self, events: list[audit.StoredEvent]) -> None:
        # Imported here, not at the top: about 10 ms of a run's start, and most runs send nothing.
        import smtplib
        import ssl
        from email.message import EmailMessage

        message = EmailMessage()
        message["Subject"] = _subject(events)
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        lines = [f"[{e.seq}] {one_line(e)}" for e in events]
        message.set_content(
            "New in the covenant-monitor audit log (sequence numbers in brackets):\n\n"
            + "\n".join(lines)
            + "\n\n`covenant-monitor report` gives the full report.\n"
        )
        with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, _from_environment(self.password_env, "SMTP password"))
            smtp.send_message(message)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_env: str | None = None  # if set, the body is signed with HMAC-SHA256 of this secret

    @property
    def channel(self) -> str:
        return f"webhook:{self.url}"

    @property
    def batch(self) -> int:
        return WEBHOOK_BATCH

    def deliver(self, events: list[audit.StoredEvent]) -> None:
        body = json.dumps(
            {"source": "covenant-monitor", "events": [e.as_json() for e in events]},
            sort_keys=True,
        ).encode()
        seqs = ",".join(str(e.seq) for e in events)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "covenant-monitor",
            "Idempotency-Key": hashlib.sha256(f"{self.url}|{seqs}".encode()).hexdigest(),
        }
        if self.secret_env:
            secret = _from_environment(self.secret_env, "webhook secret")
            signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Covenant-Monitor-Signature"] = f"sha256={signature}"
        import urllib.request  # here, not at the top: see Email.deliver

        request = urllib.request.Request(self.url, body, headers, method="POST")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if not 200 <= response.status < 300:
                raise OSError(f"HTTP {response.status}")


def _from_environment(name: str | None, what: str) -> str:
    """A secret the configuration names: unset, the delivery fails (and is retried on the next
    run), rather than log in without a password or send a body unsigned."""
    value = os.environ.get(name or "")
    if not value:
        raise OSError(f"the environment variable {name} (the {what}) is not set")
    return value


@dataclass(frozen=True)
class Delivery:
    channel: str
    events: int  # pending
    attempts: int  # of the last message tried
    error: str | None = None
    sent: int = 0  # of the events, those delivered (all, without an error)


@dataclass
class Notifier:
    channels: list[Channel] = field(default_factory=list)
    attempts: int = 3
    backoff: float = 1.0  # seconds before the second attempt; doubled each time

    def send(self, db: Location, first_new: int | None) -> list[Delivery]:
        """Deliver what each channel has pending; a channel new to the log is sent what this
        run recorded (from seq `first_new`), not the history."""
        after = first_new - 1 if first_new is not None else audit.last_seq(db)
        results = []
        for channel in self.channels:
            events = audit.pending(db, channel.channel, KINDS, after)
            if events:
                results.append(self._send(db, channel, events))
        return results

    def _send(self, db: Location, channel: Channel, events: list[audit.StoredEvent]) -> Delivery:
        """The events in messages of at most `channel.batch`, each marked delivered once the
        server accepted it: a failure leaves the rest pending, and what went is not sent
        again."""
        size, sent, attempt = channel.batch or len(events), 0, 0
        for start in range(0, len(events), size):
            batch = events[start : start + size]
            attempt, error = self._attempts(channel, batch)
            if error is not None:
                return Delivery(channel.channel, len(events), attempt, error, sent)
            audit.delivered(db, channel.channel, [e.seq for e in batch])
            sent += len(batch)
        return Delivery(channel.channel, len(events), attempt, None, sent)

    def _attempts(
        self, channel: Channel, events: list[audit.StoredEvent]
    ) -> tuple[int, str | None]:
        """One message, tried up to `attempts` times: the attempts made, and the last error."""
        error = None
        for attempt in range(1, self.attempts + 1):
            try:
                channel.deliver(events)
            except OSError as failure:  # smtplib's and urllib's errors are OSErrors
                error = f"{type(failure).__name__}: {failure}"
                if attempt < self.attempts:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            return attempt, None
        return self.attempts, error


_EMAIL_KEYS = {"to", "smtp", "from", "starttls", "username", "password_env"}
_WEBHOOK_KEYS = {"url", "secret_env"}


def load_config(path: Path) -> Notifier:
    """A notifier from a TOML file; every problem is reported with its key, nothing half-read."""
    problems: list[Problem] = []
    try:
        with path.open("rb") as handle:
            data = tomli.load(handle)
    except (OSError, tomli.TOMLDecodeError) as error:
        raise InputError([Problem(str(path), f"cannot read the configuration: {error}")]) from None
    notifier = Notifier()
    for key in sorted(set(data) - {"notify"}):
        problems.append(Problem(str(path), "unknown key; expected [notify]", key=key))
    section = data.get("notify", {})
    for key in sorted(set(section) - {"email", "webhook", "attempts", "backoff_seconds"}):
        problems.append(Problem(str(path), "unknown key", key=f"notify.{key}"))
    attempts = section.get("attempts", notifier.attempts)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10:
        problems.append(Problem(str(path), "a whole number from 1 to 10", key="notify.attempts"))
    else:
        notifier.attempts = attempts
    backoff = section.get("backoff_seconds", notifier.backoff)
    if not isinstance(backoff, int | float) or isinstance(backoff, bool) or not 0 <= backoff <= 60:
        problems.append(Problem(str(path), "seconds from 0 to 60", key="notify.backoff_seconds"))
    else:
        notifier.backoff = float(backoff)
    for index, table in enumerate(_tables(section, "email", path, problems)):
        where = f"notify.email[{index}]"
        for key in sorted(set(table) - _EMAIL_KEYS):
            problems.append(Problem(str(path), "unknown key", key=f"{where}.{key}"))
        to = table.get("to")
        if isinstance(to, str):
            to = [to]
        if not to or not all(isinstance(a, str) and "@" in a for a in to):
            problems.append(Problem(str(path), "one or more e-mail addresses", key=f"{where}.to"))
            continue
        try:
            host, port = smtp_address(str(table.get("smtp", "")))
        except ValueError as error:
            problems.append(Problem(str(path), str(error), key=f"{where}.smtp"))
            continue
        sender = _text(table, "from", where, path, problems) or Email.sender
        starttls = table.get("starttls", False)
        if not isinstance(starttls, bool):
            problems.append(Problem(str(path), "true or false", key=f"{where}.starttls"))
        username = _text(table, "username", where, path, problems)
        password_env = _text(table, "password_env", where, path, problems)
        if ("username" in table) != ("password_env" in table):
            problems.append(
                Problem(
                    str(path),
                    "a login takes both username and password_env (the environment variable "
                    "holding the password)",
                    key=f"{where}.{'password_env' if 'username' in table else 'username'}",
                )
            )
        elif "username" in table and starttls is not True:
            problems.append(
                Problem(
                    str(path),
                    "a login needs starttls = true: the password is not sent in clear",
                    key=f"{where}.starttls",
                )
            )
        notifier.channels.append(
            Email(tuple(to), host, port, sender, starttls is True, username, password_env)
        )
    for index, table in enumerate(_tables(section, "webhook", path, problems)):
        where = f"notify.webhook[{index}]"
        for key in sorted(set(table) - _WEBHOOK_KEYS):
            problems.append(Problem(str(path), "unknown key", key=f"{where}.{key}"))
        secret_env = _text(table, "secret_env", where, path, problems)
        try:
            notifier.channels.append(Webhook(webhook_url(table.get("url")), secret_env))
        except ValueError as error:
            problems.append(Problem(str(path), str(error), key=f"{where}.url"))
    if problems:
        raise InputError(problems)
    return notifier


def _text(
    table: dict[str, Any], key: str, where: str, path: Path, problems: list[Problem]
) -> str | None:
    """The value of `key` if it is non-empty text; None, noted as a problem if it is there."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(str(path), "non-empty text", key=f"{where}.{key}"))
        return None
    return value


def _tables(
    section: dict[str, Any], name: str, path: Path, problems: list[Problem]
) -> list[dict[str, Any]]:
    tables = section.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(Problem(str(path), f"write it as [[notify.{name}]]", key=f"notify.{name}"))
        return []
    return tables


def smtp_address(text: str) -> tuple[str, int]:
    """HOST or HOST:PORT (port 25 if not given)."""
    host, _, port = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "25")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not an SMTP server such as mail.example.com:587")
    return host, int(port)


def webhook_url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// address")
    return value
