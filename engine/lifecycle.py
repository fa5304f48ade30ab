"""The lifecycle as rules: breach, default, event of default, waiver, suspension, reinstatement,
first occurrence and acceleration. Each firing becomes one audit event carrying what it was
computed from.

Facts go into durable-rules in date order, each carrying what its rule compares: a test the
sign of its headroom, a breach the waiver and suspension windows of its covenant, a default the date
its grace ends and the as-of date. The Python objects behind a fact travel by reference (`ref`),
so the engine sees only plain numbers and strings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from json.encoder import encode_basestring, encode_basestring_ascii
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from dateutil.relativedelta import relativedelta

from . import host
from .cached import cached_property
from .evaluate import Evaluation, NotTested, TestResult, row_tests
from .facts import FactEventRow, Facts
from .instruments import InstrumentState, Status, Window
from .interest import accrue, default_rate_pieces
from .rules import Agreement, Consequence, Covenant, TestKind
from .skeleton import Skeleton, hole

# Events whose first recording makes `run` exit 1: something new needs attention. In the order
# a breach's story runs, which is how `--help` and the README list them.
ATTENTION = (
    "breach",
    "default",
    "event_of_default",
    "revolving_loan_reduction",
    "amount_due",
    "payment_overdue",
    "notice_required",
    "pik_blocked",
    "senior_debt_excess",
    "restatement",
)
# Details that say where an input sat (file and row), not what it said: moving a row or a folder
# changes them, and must not make an event look restated.
PROVENANCE = frozenset(
    {"source_row", "reported_by", "rule_file", "rule_folder", "conditions_satisfied"}
)


# Encoders made once: json.dumps with options builds a new one on every call. `chained_text`
# is the JSON the audit log's hash chain digests (compact, keys as given).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_VERSIONED = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
chained_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def canonical(value: Any) -> str:
    """The one JSON text of a value: what digests and the audit log store."""
    return _CANONICAL(value)


def strings_text(values: list[str | None]) -> str:
    """`canonical(values)` for a list of strings and nulls, without the encoder's set-up on
    each call: a run encodes one such list for each test it stores."""
    if None in values:
        return _CANONICAL(values)
    return f"[{','.join(map(encode_basestring, values))}]"


# A covenant test as a tests row stores it (audit.TESTS): (shape, values, folder), the JSON of
# what it shares with the other tests of its shape (the same text object for all of them), and
# of the rest, its source row named within its folder (`Origin.parted`); and that folder,
# which a tests row names once. A plain tuple, not a NamedTuple: a run's one writing process
# unpickles millions of them, and a NamedTuple takes four times as long.
Measured = tuple[str, str, str]


# An event as the audit log stores it, as a plain tuple: EventRow's fields in its order, but
# a test made by the lifecycle has no details or chain text, only its `Measured` (audit.lean).
Row = tuple[str, str, str, str, str | None, str, str | None, bytes | Measured]


class EventRow(NamedTuple):
    """An event as the audit log stores it: plain text, light to pass between processes."""

    key: str
    version: str
    event: str
    agreement: str
    covenant: str | None
    date: str
    details: str  # canonical JSON
    chained: bytes  # these seven as the audit log's hash chain writes them (audit._Chain), UTF-8


@dataclass(frozen=True)
class AuditEvent:
    event: str
    agreement: str
    covenant: str | None
    date: date
    details: dict[str, Any] = field(default_factory=dict)  # JSON-ready values only
    discriminator: str = ""  # what else, beside event, covenant and date, makes it distinct
    # This event as a worker spools it (`audit.lean`), made with it if it is a test the
    # lifecycle made: a tests row stores it as its `Measured` (None: as its fields, in the
    # row's older form).
    spooled: ClassVar[Row | None] = None
    # The file that stores, once for every event that shares it, what its row names by its
    # digest: its details (`SharedEvent`), or a test's shape (the tests row names it); None,
    # its row holds all of it.
    details_file: ClassVar[tuple[str, bytes] | None] = None

    @cached_property
    def key(self) -> str:
        """Idempotency key: a rerun on the same inputs produces the same keys."""
        parts = (self.agreement, self.event, self.covenant or "-", self.date.isoformat())
        return "|".join((*parts, self.discriminator))

    @cached_property
    def version(self) -> str:
        """A digest of what the event says, inputs included but not where they sat: the same
        facts give the same version; a corrected figure gives a new one. Its text is
        `_VERSIONED([key, _content(details)])`, put together from its two parts."""
        text = f"[{encode_basestring_ascii(self.key)},{self.texts.versioned}]"
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def row(self) -> EventRow:
        texts = self.texts
        fields = [self.key, self.version, self.event, self.agreement, self.covenant]
        fields.append(self.date.isoformat())
        # `chained_text` of the seven fields, the details' part quoted once for all events
        # that share them.
        chained = f"{strings_text(fields)[1:-1]},{texts.quoted}"
        return EventRow(*fields, texts.canonical, chained.encode())

    @cached_property
    def texts(self) -> DetailsTexts:
        """Its details as text, made once: its version and its row both read them."""
        return DetailsTexts.of(self.details)


class DetailsTexts(NamedTuple):
    """An event's details as text: `canonical`; `versioned`, what its version digests beside
    its key; and `quoted`, the canonical text as a JSON string, as the chain's text holds it."""

    canonical: str
    versioned: str
    quoted: str

    @classmethod
    def of(cls, details: dict[str, Any]) -> DetailsTexts:
        text = canonical(details)
        return cls(text, _VERSIONED(_content(details)), encode_basestring(text))


class SharedTexts(NamedTuple):
    """The texts of details that many facilities' events share: their row holds `texts`,
    whose canonical text is the digest of the `file` that holds the details, stored once."""

    texts: DetailsTexts
    file: tuple[str, bytes]  # (SHA-256 digest, the details' canonical text in UTF-8)

    @classmethod
    def of(cls, details: dict[str, Any]) -> SharedTexts:
        whole = DetailsTexts.of(details)
        content = whole.canonical.encode()
        sha = hashlib.sha256(content).hexdigest()
        stored = f'"{sha}"'  # a JSON string: the details of every other event are an object
        return cls(DetailsTexts(stored, whole.versioned, encode_basestring(stored)), (sha, content))


class SharedDetails(dict):
    """Details that the events of many facilities share, unchanged (a package's terms, made
    once by terms.py): encoded once for all of them, and let go with them."""

    @cached_property
    def shared(self) -> SharedTexts:
        return SharedTexts.of(self)


@dataclass(frozen=True)
class SharedEvent(AuditEvent):
    """An event whose details are `SharedDetails`: its row holds the digest of a file that
    holds them, stored once (`SharedTexts`). A package's terms were a quarter of a portfolio's
    log, the same 24 KB in each facility's rows, and twice that in what its worker spooled for
    the writing process."""

    details: SharedDetails

    @cached_property
    def texts(self) -> DetailsTexts:
        return self.details.shared.texts

    @property
    def details_file(self) -> tuple[str, bytes]:  # type: ignore[override]
        return self.details.shared.file


def _content(details: dict[str, Any]) -> dict[str, Any]:
    """What a version digests of an event's details: all but where its inputs sat."""
    return {k: v for k, v in details.items() if k not in PROVENANCE}


# A test's details that change from test to test, and those only some tests have: with its
# inputs' figures, its `figures`; the rest is its shape's.
_CHANGING = ("result", "period", "value", "threshold", "headroom", "headroom_percent")
_OPTIONAL = ("source_row", "note", "plus")
_VARYING = frozenset((*_CHANGING, *_OPTIONAL, "inputs"))


class _TestTexts:
    """What the test events of one shape share, made once: a portfolio's millions of tests
    have a few dozen shapes. A shape is everything in a test's details but its figures and the
    row they came from (`of`). The text its version digests is a skeleton of it
    (engine/skeleton.py), and a tests row stores a test as its shape and its figures
    (`Measured`), not as the whole of its details; the shape's text is stored once, as a file
    (`file`) that tests rows name by its digest."""

    def __init__(self, covenant: str, details: dict[str, Any]):
        self.optional = [k for k in _OPTIONAL if k in details]
        # The version's text: hole 0 the key, then the figures in the order `figures` gives.
        names = [*_CHANGING, *self.optional]
        holes = {name: hole(i) for i, name in enumerate(names, 1)}
        shape = {**details, **holes}
        if "plus" in details:
            shape["plus"] = {**details["plus"], "value": holes["plus"]}
        first_input = len(names) + 1
        shape["inputs"] = {k: hole(first_input + i) for i, k in enumerate(details["inputs"])}
        self.versioned = Skeleton(_VERSIONED, [hole(0), _content(shape)], ascii_only=True)
        self.shape = canonical(
            {
                "covenant": covenant,
                "fixed": {k: v for k, v in details.items() if k not in _VARYING},
                "optional": self.optional,
                "plus": details["plus"]["clause"] if "plus" in details else None,
                "inputs": list(details["inputs"]),
            }
        )
        self.file = (shape_digest(self.shape), self.shape.encode())

    @staticmethod
    def of(covenant: str, details: dict[str, Any]) -> _TestTexts:
        """The texts of this shape, made once for the tests of every facility that has it."""
        plus = details.get("plus")
        shape = (
            covenant,
            tuple((k, v) for k, v in details.items() if k not in _VARYING),
            tuple(details["inputs"]),
            None if plus is None else plus["clause"],
            "source_row" in details,
            "note" in details,
        )
        texts = _SHAPES.get(shape)
        if texts is None:
            if len(_SHAPES) >= _MOST_SHAPES:
                _SHAPES.clear()
            texts = _SHAPES[shape] = _TestTexts(covenant, details)
        return texts

    def stored(self, key: str, day: str, figures: list[str], folder: str) -> tuple[str, Measured]:
        """A test's version (`AuditEvent.version`, filled in rather than encoded whole) and
        how a tests row stores it: its shape, then its date, version and figures (each as
        its JSON text, in the order `_figures` gives them), then the folder of its source
        row (the version digests neither)."""
        joined = ",".join(figures)
        if joined.isascii() and "\x7f" not in joined:  # encoded as the version's text does
            text = self.versioned.fill_encoded([encode_basestring_ascii(key), *figures])
        else:
            text = self.versioned.fill([key, *map(json.loads, figures)])
        version = hashlib.sha256(text.encode()).hexdigest()
        # A date in ISO form and a hex digest are JSON strings as they are, quoted.
        return version, (self.shape, f'["{day}","{version}",{joined}]', folder)


def shape_digest(shape: str) -> str:
    """The digest of the file that stores a shape's text (`_TestTexts.shape`) once: a tests
    row names its shapes by it (audit.tests_text). Worked out once for each shape's text."""
    digest = _SHAPE_DIGESTS.get(shape)
    if digest is None:
        if len(_SHAPE_DIGESTS) >= _MOST_SHAPES:
            _SHAPE_DIGESTS.clear()
        digest = _SHAPE_DIGESTS[shape] = hashlib.sha256(shape.encode()).hexdigest()
    return digest


_SHAPE_DIGESTS: dict[str, str] = {}


def measured_fields(
    agreement: str, shape: dict[str, Any], values: list[Any], folder: str = ""
) -> list[Any]:
    """A test `Measured` as the fields of its `EventRow`, its details as a dict: the inverse
    of `_TestTexts.stored`, for readers of the log. `folder`: what its source row is named
    within (none before schema 8)."""
    day, version = values[0], values[1]
    details = dict(shape["fixed"])
    details.update(zip(_CHANGING, values[2:], strict=False))
    rest = values[2 + len(_CHANGING) :]
    for name, value in zip(shape["optional"], rest, strict=False):
        if name == "plus":
            details[name] = {"value": value, "clause": shape["plus"]}
        else:
            details[name] = folder + value if name == "source_row" else value
    details["inputs"] = dict(zip(shape["inputs"], rest[len(shape["optional"]) :], strict=True))
    covenant = shape["covenant"]
    key = key_of_test(agreement, covenant, day, details["period"])
    return [key, version, "test", agreement, covenant, day, details]


def key_of_test(agreement: str, covenant: str, day: str, period: str) -> str:
    """A covenant test's key (`AuditEvent.key`) from the parts a tests row stores."""
    return f"{agreement}|test|{covenant}|{day}|{period}"


_SHAPES: dict[tuple, _TestTexts] = {}  # cleared when full: facilities' overrides add shapes
_MOST_SHAPES = 4096


def _texts_of(test: TestResult, result: str) -> _TestTexts:
    """The texts of a test's shape, which its covenant and the row of its table in force
    decide (and whether it has a note, a plus): kept in the covenant, which the facilities of a
    package share, by the row's identity, so that a test's details are made only for a
    covenant row not met before. Each entry keeps its row, so its id is not reused."""
    row, made = test.row, test.covenant.made
    mark = (id(row), bool(test.note), test.plus_value is not None)
    found = made.get(mark)
    if found is None:
        details = _recorded_details(test, result)
        found = made[mark] = (row, _TestTexts.of(test.covenant.section, details))
    return found[1]


class _Test(AuditEvent):
    """A covenant test the lifecycle records. A run needs only its key, version and stored
    form, made with it from its figures and its shape's texts; its details dict, what a test
    of the event whole would hold, is made only when read. A portfolio records millions of
    compliant tests, and making each one's dict cost as much as testing it.

    Its fields are set here, not by the dataclass's frozen __init__ (one setattr call each),
    and so are its key, version and stored form, which every run reads (not as cached
    properties, looked up and filled one by one)."""

    def __init__(self, agreement: str, test: TestResult, result: str, texts: _TestTexts):
        day, section = test.date.isoformat(), test.covenant.section
        key = key_of_test(agreement, section, day, test.period)
        figures = _figures(test, result, texts.optional)
        version, measured = texts.stored(key, day, figures, test.origin.parted[0])
        self.__dict__.update(
            event="test",
            agreement=agreement,
            covenant=section,
            date=test.date,
            discriminator=test.period,
            source=test,
            result=result,
            key=key,
            version=version,
            spooled=(key, version, "test", agreement, section, day, None, measured),
            details_file=texts.file,  # its shape's
        )

    @cached_property
    def details(self) -> dict[str, Any]:  # type: ignore[override]
        return _recorded_details(self.source, self.result)


def _figures(test: TestResult, result: str, optional: list[str]) -> list[str]:
    """What changes from test to test, each as its JSON text, in its shape's order: the
    `_CHANGING` details, the shape's `optional` ones, then its inputs. A result word and a
    Decimal's text need no escaping, and are quoted as they are (a portfolio has millions)."""
    # `!s`: a Decimal's str, not its __format__, which parses a format spec (twice as slow).
    value, headroom, percent = test.value, test.headroom, test.headroom_percent
    figures = [
        f'"{result}"',
        encode_basestring(test.period),
        "null" if value is None else f'"{value!s}"',
        f'"{test.threshold!s}"',
        "null" if headroom is None else f'"{headroom!s}"',
        "null" if percent is None else f'"{percent!s}"',
    ]
    for name in optional:
        if name == "source_row":
            figures.append(test.origin.parted[1])
        elif name == "note":
            figures.append("null" if test.note is None else encode_basestring(test.note))
        else:
            figures.append("null" if test.plus_value is None else f'"{test.plus_value!s}"')
    figures += [f'"{amount!s}"' for amount in test.inputs.values()]
    return figures


def unit_of(covenant: Covenant) -> str:
    if covenant.test is TestKind.DELIVERED_WITHIN_DAYS:
        return "days"
    return "ratio" if covenant.metric and covenant.metric.is_ratio else "USD"


def _kind(name: str) -> host.Condition:
    return host.equals("kind", name)


def _failed(consequence: Consequence) -> host.Condition:
    """A test on the wrong side of its limit, for a covenant with this consequence."""
    return host.all_of(
        _kind("test"), host.equals("effect", consequence.value), host.less("headroom_sign", 0)
    )


def as_int(day: date | None) -> int:
    """durable-rules has no date type; yyyymmdd integers compare in date order."""
    return 0 if day is None else day.year * 10000 + day.month * 100 + day.day


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _recorded_details(test: TestResult, result: str) -> dict[str, Any]:
    """A recorded test's details (`Lifecycle._record_test`)."""
    return _test_details(test, title=test.covenant.title, rule="record_test", result=result)


def _test_details(test: TestResult, **first: str) -> dict[str, Any]:
    """What a test's events say of it; `first` goes before (a test's title and result)."""
    covenant, row = test.covenant, test.row
    details: dict[str, Any] = {
        **first,
        "period": test.period,
        "value": text(test.value),
        "threshold": text(test.threshold),
        "minimum": text(row.minimum),
        "headroom": text(test.headroom),
        "headroom_percent": text(test.headroom_percent),
        "metric": covenant.metric.source if covenant.metric else None,
        "unit": unit_of(covenant),
        "inputs": {k: str(v) for k, v in test.inputs.items()},
        "clause": row.source,
        "table_row": row.table_row,
        "rule_file": covenant.file,
        "source_row": str(test.origin),
    }
    if covenant.breach_when == "above":
        details["breach_when"] = "above"
    if test.plus_value is not None:
        details["plus"] = {"value": str(test.plus_value), "clause": covenant.plus_source}
    if test.note:
        details["note"] = test.note
    return details


@dataclass
class _Breach:
    covenant: Covenant
    date: date
    details: dict[str, Any]
    window: Window

    @property
    def grace_ends(self) -> date:
        """The day the default becomes an Event of Default."""
        return self.date + relativedelta(days=self.covenant.grace_days)


class Lifecycle:
    """One run of one agreement's lifecycle rules; collects the audit events they emit."""

    def __init__(self, agreement: Agreement, facts: Facts, as_of: date, windows: dict[str, Window]):
        self.agreement, self.facts, self.as_of = agreement, facts, as_of
        self.windows = windows
        self.events: list[AuditEvent] = []
        self._refs: list[Any] = []

    def ref(self, obj: Any) -> int:
        self._refs.append(obj)
        return len(self._refs) - 1

    def emit(
        self,
        firing: host.Firing | str,
        event: str,
        covenant: Covenant | None,
        day: date,
        discriminator: str = "",
        **details: Any,
    ) -> None:
        rule = firing if isinstance(firing, str) else firing.rule
        details = {"rule": rule, **details}
        if covenant is not None:
            details = {"title": covenant.title, **details}
        self.events.append(
            AuditEvent(
                event,
                self.agreement.id,
                covenant.section if covenant else None,
                day,
                details,
                discriminator,
            )
        )

    def run(self, evaluation: Evaluation, states: list[InstrumentState]) -> list[AuditEvent]:
        stream: list[tuple[date, int, TestResult | dict[str, Any]]] = [
            (test.date, 1, test) for test in evaluation.tests
        ]
        for item in evaluation.not_tested:
            stream.append((item.date, 0, {"kind": "not_tested", "ref": self.ref(item)}))
        for row in self.facts.events:
            if row.covenant is not None:  # only reported breaches name a covenant
                stream.append((row.date, 1, {"kind": "reported_breach", "ref": self.ref(row)}))
        for state in states:
            for day, fact in self._instrument_facts(state):
                stream.append((day, 2, fact))
        stream.sort(key=lambda item: (item[0], item[1]))
        with RULES.session(self, f"{RULES.name}-{self.agreement.id}") as session:
            for _, _, item in stream:
                if isinstance(item, TestResult):
                    self._record_test(item)
                    if item.passed:
                        continue  # a compliant test has no consequence for the rules to find
                    item = self._failed_test(item)
                session.assert_fact(item)
        return self.events

    def _failed_test(self, test: TestResult) -> dict[str, Any]:
        """A test on the wrong side of its limit as the rules see it: only the sign of its
        headroom matters to them, and a float such as -5e-08 would reach durable-rules' JSON
        parser in exponent form, which it rejects (error 204)."""
        return {
            "kind": "test",
            "ref": self.ref(test),
            "date": as_int(test.date),
            "covenant": test.covenant.section,
            "effect": test.covenant.consequence.value,
            "headroom_sign": -1,
        }

    def _instrument_facts(self, state: InstrumentState):
        instrument = state.instrument
        if state.status is Status.NOT_YET_EFFECTIVE:
            return
        yield (
            instrument.effective,
            {"kind": "instrument", "ref": self.ref(state), "status": state.status.value},
        )
        if state.reinstatement is not None:
            yield state.reinstatement, {"kind": "reinstatement", "ref": self.ref(state)}

    def _obj(self, firing: host.Firing) -> Any:
        return self._refs[firing.fact["ref"]]

    def _record_test(self, test: TestResult) -> None:
        """Every test is recorded, in Python: the rules see only the tests that fail, since
        routing each compliant quarter through durable-rules costs about 100 microseconds and
        decides nothing (DESIGN.md, What things cost)."""
        covenant = test.covenant
        if test.passed:
            result = "compliant"
        elif covenant.consequence is Consequence.DEFAULT:
            result = "breach"
        else:
            result = "above_maximum" if covenant.breach_when == "above" else "below_minimum"
        self.events.append(_Test(self.agreement.id, test, result, _texts_of(test, result)))

    def _breach(self, firing: host.Firing) -> None:
        test: TestResult = self._obj(firing)
        details = _test_details(test)
        self.emit(firing, "breach", test.covenant, test.date, test.period, **details)
        self._assert_breach(firing, test.covenant, test.date, details)

    def _reported_breach(self, firing: host.Firing) -> None:
        row: FactEventRow = self._obj(firing)
        covenant = self.agreement.covenants[row.covenant]
        details = {
            "value": None,
            "threshold": None,
            "clause": f"Section {covenant.section} ({Path(covenant.file).name}); "
            "terms not in the documents",
            "reported_by": str(row.origin),
        }
        if row.note:
            details["note"] = row.note
        self.emit(firing, "breach", covenant, row.date, **details)
        self._assert_breach(firing, covenant, row.date, details)

    def _assert_breach(
        self, firing: host.Firing, covenant: Covenant, day: date, details: dict[str, Any]
    ) -> None:
        breach = _Breach(covenant, day, details, self.windows.get(covenant.section, Window()))
        window = breach.window
        firing.assert_fact(
            {
                "kind": "breach",
                "ref": self.ref(breach),
                "date": as_int(breach.date),
                "waived_before": as_int(window.waived_before),
                "suspended_from": as_int(window.suspended_from),
                "suspended_through": as_int(window.suspended_through),
            }
        )

    def _waived(self, firing: host.Firing) -> None:
        breach: _Breach = self._obj(firing)
        state = breach.window.waiver
        assert state is not None and state.instrument.waiver is not None
        self.emit(
            firing,
            "waived",
            breach.covenant,
            breach.date,
            state.instrument.id,
            instrument=state.instrument.id,
            effective_date=state.instrument.effective.isoformat(),
            breach_date=breach.date.isoformat(),
            clause=state.instrument.waiver.source,
            conditions_satisfied=str(state.conditions.origin) if state.conditions else None,
        )

    def _suspended(self, firing: host.Firing) -> None:
        breach: _Breach = self._obj(firing)
        state = breach.window.suspension
        assert state is not None and state.instrument.suspension is not None
        self.emit(
            firing,
            "suspended",
            breach.covenant,
            breach.date,
            state.instrument.id,
            instrument=state.instrument.id,
            breach_date=breach.date.isoformat(),
            suspended_from=state.instrument.effective.isoformat(),
            reinstatement_date=state.reinstatement.isoformat() if state.reinstatement else None,
            clause=state.instrument.suspension.source,
        )

    def _default(self, firing: host.Firing) -> None:
        breach: _Breach = self._obj(firing)
        covenant = breach.covenant
        reason = "no waiver or suspension covers this breach"
        if breach.window.suspension is not None:
            reason = (
                f"the breach falls outside the suspension by "
                f"{breach.window.suspension.instrument.id}"
            )
        details: dict[str, Any] = {
            "clause": breach.details.get("clause"),
            "breach_date": breach.date.isoformat(),
            "reason": reason,
            "grace_note": covenant.grace_note,
        }
        if covenant.other_agreement:
            # That agreement has no Events of Default: the default is where its lifecycle ends.
            details["reason"] += f"; a breach of the {covenant.other_agreement}"
            self.emit(firing, "default", covenant, breach.date, **details)
            return
        details |= {
            "grace_days": covenant.grace_days,
            "event_of_default_on": breach.grace_ends.isoformat(),
        }
        self.emit(firing, "default", covenant, breach.date, **details)
        firing.assert_fact(
            {
                "kind": "default",
                "ref": self.ref(breach),
                "grace_ends": as_int(breach.grace_ends),
                "as_of": as_int(self.as_of),
            }
        )

    def _event_of_default(self, firing: host.Firing) -> None:
        breach: _Breach = self._obj(firing)
        covenant = breach.covenant
        self.emit(
            firing,
            "event_of_default",
            covenant,
            breach.grace_ends,
            clause=breach.details.get("clause"),
            breach_date=breach.date.isoformat(),
            grace_days=covenant.grace_days,
            grace_note=covenant.grace_note,
        )

    def _grace_period(self, firing: host.Firing) -> None:
        breach: _Breach = self._obj(firing)
        covenant = breach.covenant
        self.emit(
            firing,
            "grace_period",
            covenant,
            breach.date,
            breach_date=breach.date.isoformat(),
            event_of_default_on=breach.grace_ends.isoformat(),
            grace_days=covenant.grace_days,
            grace_note=covenant.grace_note,
        )

    def _first_occurrence(self, firing: host.Firing) -> None:
        test: TestResult = self._obj(firing)
        firing.assert_fact(
            {"kind": "occurred", "ref": self.ref(test), "covenant": test.covenant.section}
        )

    def _accelerate(self, firing: host.Firing) -> None:
        test: TestResult = self._obj(firing)
        covenant = test.covenant
        details = _test_details(test)
        self.emit(firing, "revolving_loan_reduction", covenant, test.date, **details)
        self.emit(
            firing,
            "notice_required",
            covenant,
            test.date,
            deadline=test.date.isoformat(),
            to="each holder of Notes",
            clause=covenant.acceleration.source if covenant.acceleration else details["clause"],
            reason=f"Revolving Loan Reduction on {test.date} (notice owed immediately)",
        )
        self._amounts_due(firing, covenant, test)

    def _flag(self, firing: host.Firing) -> None:
        """A limit exceeded without a default: Section 9.1's excess is not Senior Debt."""
        test: TestResult = self._obj(firing)
        assert test.covenant.flag is not None and test.headroom is not None
        details = _test_details(test)
        details["excess"] = str(-test.headroom)
        self.emit(firing, test.covenant.flag, test.covenant, test.date, test.period, **details)

    def _amounts_due(self, firing: host.Firing, covenant: Covenant, test: TestResult) -> None:
        acceleration = covenant.acceleration
        assert acceleration is not None
        pieces = default_rate_pieces(
            self.agreement.default_rates,
            self.facts.prime_rates,
            acceleration.interest_from,
            test.date,
            self.agreement.highest_lawful_rate,
        )
        if not self.facts.notes:
            self.emit(
                firing,
                "data_missing",
                covenant,
                test.date,
                "notes",
                message="notes.csv gives no Initial Capitalized Interest Amounts: the "
                "amounts now due cannot be computed",
            )
        for note in self.facts.notes:
            accrual = accrue(note.initial_capitalized_interest_amount, pieces)
            self.emit(
                firing,
                "amount_due",
                covenant,
                test.date,
                note.holder,
                holder=note.holder,
                amount=str(accrual.total),
                principal=str(accrual.principal),
                interest=str(accrual.interest),
                due_date=test.date.isoformat(),
                interest_from=acceleration.interest_from.isoformat(),
                interest_to_excluding=test.date.isoformat(),
                day_count=acceleration.day_count,
                days=accrual.days,
                rates=[
                    {
                        "from": p.start.isoformat(),
                        "to_excluding": p.end.isoformat(),
                        "rate_percent": str(p.rate_percent),
                        "days": p.days,
                        "basis": p.basis,
                    }
                    for p in accrual.pieces
                ],
                clause=acceleration.source,
                source_row=str(note.origin),
            )

    def _not_tested(self, firing: host.Firing) -> None:
        item: NotTested = self._obj(firing)
        self.emit(
            firing,
            "not_tested",
            item.covenant,
            item.date,
            item.period,
            period=item.period,
            reason=item.reason,
            rule_file=item.covenant.file,
            source_row=str(item.origin),
        )

    def _instrument_effective(self, firing: host.Firing) -> None:
        state: InstrumentState = self._obj(firing)
        instrument = state.instrument
        self.emit(
            firing,
            "instrument_effective",
            None,
            instrument.effective,
            instrument.id,
            instrument=instrument.id,
            title=instrument.title,
            document=instrument.document,
            conditions_satisfied=str(state.conditions.origin) if state.conditions else None,
        )
        if instrument.suspension is not None:
            for section in instrument.suspension.covenants:
                self.emit(
                    firing,
                    "covenant_suspended",
                    self.agreement.covenants[section],
                    instrument.effective,
                    instrument.id,
                    instrument=instrument.id,
                    suspended_from=instrument.effective.isoformat(),
                    until_earlier_of=[
                        instrument.suspension.until_event,
                        instrument.suspension.until_latest.isoformat(),
                    ],
                    clause=instrument.suspension.source,
                )

    def _waiver_pending(self, firing: host.Firing) -> None:
        state: InstrumentState = self._obj(firing)
        instrument = state.instrument
        self.emit(
            firing,
            "waiver_pending",
            None,
            instrument.effective,
            instrument.id,
            instrument=instrument.id,
            title=instrument.title,
            reason=f"events.csv records no conditions_satisfied for {instrument.id} on or "
            f"before {instrument.effective}; nothing is waived or suspended",
            clause=f"{instrument.title} ({instrument.dated}), {instrument.conditions_precedent}",
        )

    def _reinstatement(self, firing: host.Firing) -> None:
        state: InstrumentState = self._obj(firing)
        instrument = state.instrument
        assert instrument.suspension is not None and state.reinstatement is not None
        for section in instrument.suspension.covenants:
            self.emit(
                firing,
                "reinstatement_date",
                self.agreement.covenants[section],
                state.reinstatement,
                instrument.id,
                instrument=instrument.id,
                trigger=state.reinstatement_trigger,
                clause=instrument.suspension.source,
            )


# The rules, declared once for every facility. Conditions are data; actions turn a firing
# into audit events of the lifecycle that runs them.
RULES: host.RuleSet[Lifecycle] = host.RuleSet(
    "lifecycle",
    {
        "breach": host.Rule(_failed(Consequence.DEFAULT), Lifecycle._breach),
        "reported_breach": host.Rule(_kind("reported_breach"), Lifecycle._reported_breach),
        "waived": host.Rule(
            host.all_of(_kind("breach"), host.less("date", host.field("waived_before"))),
            Lifecycle._waived,
        ),
        "suspended": host.Rule(
            host.all_of(
                _kind("breach"),
                host.greater_or_equal("date", host.field("suspended_from")),
                host.less_or_equal("date", host.field("suspended_through")),
            ),
            Lifecycle._suspended,
        ),
        "default": host.Rule(
            host.all_of(
                _kind("breach"),
                host.greater_or_equal("date", host.field("waived_before")),
                host.any_of(
                    host.less("date", host.field("suspended_from")),
                    host.greater("date", host.field("suspended_through")),
                ),
            ),
            Lifecycle._default,
        ),
        "event_of_default": host.Rule(
            host.all_of(_kind("default"), host.less_or_equal("grace_ends", host.field("as_of"))),
            Lifecycle._event_of_default,
        ),
        "grace_period": host.Rule(
            host.all_of(_kind("default"), host.greater("grace_ends", host.field("as_of"))),
            Lifecycle._grace_period,
        ),
        "first_occurrence": host.Rule(
            _failed(Consequence.ACCELERATION),
            Lifecycle._first_occurrence,
            unless=host.all_of(
                _kind("occurred"), host.equals("covenant", host.matched("covenant"))
            ),
        ),
        "accelerate": host.Rule(_kind("occurred"), Lifecycle._accelerate),
        "flag": host.Rule(_failed(Consequence.FLAG), Lifecycle._flag),
        "not_tested": host.Rule(_kind("not_tested"), Lifecycle._not_tested),
        "instrument_effective": host.Rule(
            host.all_of(_kind("instrument"), host.equals("status", Status.EFFECTIVE.value)),
            Lifecycle._instrument_effective,
        ),
        "waiver_pending": host.Rule(
            host.all_of(_kind("instrument"), host.equals("status", Status.PENDING.value)),
            Lifecycle._waiver_pending,
        ),
        "reinstatement_date": host.Rule(_kind("reinstatement"), Lifecycle._reinstatement),
    },
)


def appended_tests(agreement: Agreement, facts: Facts, as_of: date) -> list[AuditEvent] | None:
    """The events of rows appended to tables tested row by row (`facts` holds only those rows),
    when each gives a compliant test: then nothing else follows from them, since the rules see
    only failed tests and nothing already recorded depends on a later compliant one. None
    otherwise (a failed test, a date not tested): the facility is evaluated whole."""
    current = facts.as_of(as_of)
    evaluation = row_tests(agreement, current)
    if evaluation.not_tested or not all(t.passed for t in evaluation.tests):
        return None
    lifecycle = Lifecycle(agreement, current, as_of, {})
    for test in evaluation.tests:
        lifecycle._record_test(test)
    return lifecycle.events


def run_lifecycle(
    agreement: Agreement,
    facts: Facts,
    as_of: date,
    evaluation: Evaluation,
    states: list[InstrumentState],
    windows: dict[str, Window],
) -> list[AuditEvent]:
    return Lifecycle(agreement, facts, as_of, windows).run(evaluation, states)
