"""A LimeSurvey 6.2.1 RemoteControl 2 (JSON-RPC) server for tests, on loopback HTTP.

It answers as the real one does, byte for byte where the captures in
``shared/limesurvey-6.2.1/rc2`` show the bytes (``tests/test_contract.py`` checks every
capture): status strings verbatim, HTTP 500 HTML pages for an unknown method or too few
arguments, an empty body for request id 0 or a non-JSON content type, ``\\uXXXX``
escaping, base64 export documents, inclusive id ranges, ids never reused, the login
lockout per client IP and session keys that expire 7200 s after login whatever the use.

State is plain Python (surveys, rows as dicts keyed by response-table column); tests
change it directly (``load_responses``, ``set_response``, ``delete_response``) or over
RC2. Faults (``sync.testing.faults.Faults``) are injected per request.

    d = LimeSurveyDouble(users={"admin": "secret"})
    d.add_survey(satisfaction_survey(111111, active=True))
    d.load_responses(111111, rows)
    with d.serve() as url:
        ...
"""

# The rpc_* methods mirror LimeSurvey's positional PHP signatures, arity included.
# ruff: noqa: PLR0917
from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import html
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sync.testing import qattributes
from sync.testing.faults import Faults
from sync.testing.lss import parse_lss
from sync.testing.phpjson import php_json_bytes
from sync.testing.spec import AnswerOption, QuestionSpec, SurveySpec

RC_PATH = "/index.php/admin/remotecontrol"
CONTENT_TYPE = "text/javascript;charset=UTF-8"
HTML_CONTENT_TYPE = "text/html; charset=UTF-8"
LOCKOUT_STATUS = (
    "You have exceeded the number of maximum login attempts. "
    "Please wait 10 minutes before trying again."
)
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~"
TIME_UNKNOWN = "1980-01-01 00:00:00"  # what the runtime stores as submitdate for datestamp=N

#: lime_surveys columns in the order get_survey_properties returns them, with the values
#: a survey imported from an .lss without them gets
SURVEY_DEFAULTS: dict[str, Any] = {
    "sid": 0,
    "owner_id": 1,
    "gsid": 1,
    "admin": "Admin",
    "active": "N",
    "expires": None,
    "startdate": None,
    "adminemail": "admin@example.com",
    "anonymized": "N",
    "format": "G",
    "savetimings": "N",
    "template": "inherit",
    "language": "en",
    "additional_languages": "",
    "datestamp": "Y",
    "usecookie": "N",
    "allowregister": "N",
    "allowsave": "Y",
    "autonumber_start": 0,
    "autoredirect": "N",
    "allowprev": "Y",
    "printanswers": "N",
    "ipaddr": "N",
    "ipanonymize": "N",
    "refurl": "N",
    "datecreated": None,
    "showsurveypolicynotice": 0,
    "publicstatistics": "N",
    "publicgraphs": "N",
    "listpublic": "N",
    "htmlemail": "Y",
    "sendconfirmation": "N",
    "tokenanswerspersistence": "N",
    "assessments": "N",
    "usecaptcha": "N",
    "usetokens": "N",
    "bounce_email": "admin@example.com",
    "attributedescriptions": "",
    "emailresponseto": "",
    "emailnotificationto": "",
    "tokenlength": 15,
    "showxquestions": "Y",
    "showgroupinfo": "B",
    "shownoanswer": "Y",
    "showqnumcode": "X",
    "bouncetime": 0,
    "bounceprocessing": "N",
    "bounceaccounttype": "",
    "bounceaccounthost": "",
    "bounceaccountpass": "",
    "bounceaccountencryption": "",
    "bounceaccountuser": "",
    "showwelcome": "Y",
    "showprogress": "Y",
    "questionindex": 0,
    "navigationdelay": 0,
    "nokeyboard": "N",
    "alloweditaftercompletion": "N",
    "googleanalyticsstyle": "0",
    "googleanalyticsapikey": "",
    "tokenencryptionoptions": "",
}
#: properties set_survey_properties refuses (more of them once the survey is active)
_BLOCKED = frozenset({"sid", "active", "language", "additional_languages"})
_BLOCKED_ACTIVE = frozenset({"anonymized", "savetimings", "datestamp", "ipaddr", "refurl"})

#: labels of the fixed columns with ``full``/``abbreviated`` headings, and in get_fieldmap
FIXED_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "id": "Response ID",
        "submitdate": "Date submitted",
        "lastpage": "Last page",
        "startlanguage": "Start language",
        "seed": "Seed",
        "token": "Access code",
        "startdate": "Date started",
        "datestamp": "Date last action",
    },
    "zh-Hans": {
        "id": "反馈 ID",
        "submitdate": "提交的日期",
        "lastpage": "末页",
        "startlanguage": "起始语言",
        "seed": "种子",
        "token": "访问代码",
        "startdate": "开始日期",
        "datestamp": "上次操作日期",
    },
}
DEFAULT_THEMES = {
    "L": "listradio",
    "!": "list_dropdown",
    "O": "list_with_comment",
    "F": "arrays/array",
    "A": "arrays/5point",
    "B": "arrays/10point",
    "C": "arrays/yesnouncertain",
    "E": "arrays/increasesamedecrease",
    "H": "arrays/column",
    "M": "multiplechoice",
    "P": "multiplechoice_with_comments",
    "Q": "multipleshorttext",
    "K": "multiplenumeric",
    "T": "longfreetext",
    "S": "shortfreetext",
    "U": "hugefreetext",
    "N": "numerical",
    "5": "5pointchoice",
    "Y": "yesno",
    "G": "gender",
    "D": "date",
    "X": "boilerplate",
    "*": "equation",
    "I": "language",
}
#: types answered once per subquestion (one column each)
SUBQUESTION_TYPES = frozenset("FABCEHMPQK")
#: types with no response column
NO_COLUMN_TYPES = frozenset("X")
#: column widths (characters) that make the database refuse a longer value
CODE_WIDTH_TYPES = frozenset("L!OFABCEH5GYI")
_FIXED_WIDTHS = {"token": 36, "startlanguage": 20, "seed": 31}
_DATE_FIXED = ("submitdate", "startdate", "datestamp")


class BigDocument(str):
    """An export's base64 document. LimeSurvey streams these itself instead of passing
    them through json_encode: ``{"id":1, "result":"...", "error":null}``, with spaces
    and ``/`` left unescaped (see any ``rc2/export_responses__*`` raw body)."""


class RpcError(Exception):
    """Becomes ``{"result": null, "error": message}`` (how LimeSurvey reports exceptions)."""


class _TooFewArguments(Exception):
    pass


def status(message: str) -> dict[str, str]:
    return {"status": message}


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text)).strip()


@dataclass
class PluginAttribute:
    """A question attribute a plugin declares through ``newQuestionAttributes``."""

    types: str  # question type letters it applies to, e.g. "LFT"
    i18n: bool = False


@dataclass
class _Plugin:
    name: str
    attributes: dict[str, PluginAttribute]
    active: bool = True


@dataclass
class _Question:
    qid: int
    parent_qid: int
    sid: int
    gid: int
    type: str
    title: str
    text: str
    help: str
    order: int
    mandatory: str
    other: str
    preg: str
    relevance: str
    theme: str
    answers: list[AnswerOption] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    attributes_lang: dict[str, dict[str, str]] = field(default_factory=dict)
    subs: list[_Question] = field(default_factory=list)

    def base_row(self) -> dict[str, Any]:
        return {
            "qid": self.qid,
            "parent_qid": self.parent_qid,
            "sid": self.sid,
            "gid": self.gid,
            "type": self.type,
            "title": self.title,
            "preg": self.preg,
            "other": self.other,
            "mandatory": self.mandatory,
            "encrypted": "N",
            "question_order": self.order,
            "scale_id": 0,
            "same_default": 0,
            "relevance": self.relevance,
            "question_theme_name": self.theme,
            "modulename": "",
            "same_script": 0,
        }


@dataclass
class _Group:
    gid: int
    sid: int
    order: int
    name: str
    description: str
    relevance: str
    randomization_group: str
    questions: list[_Question] = field(default_factory=list)


@dataclass(frozen=True)
class _Column:
    name: str  # response-table column (SGQA for questions)
    code: str  # export heading with "code" headings
    question: _Question | None = None
    sub: _Question | None = None
    width: int | None = None


class _Survey:
    def __init__(self, props: dict[str, Any], langs: dict[str, dict[str, Any]]) -> None:
        self.props = props
        self.langs = langs  # language -> surveys_languagesettings row
        self.groups: list[_Group] = []
        self.participant_table = False
        self.rows: dict[int, dict[str, Any]] = {}
        self.ids: list[int] = []  # sorted
        self.next_id = 1
        self.json_cache: dict[int, bytes] = {}
        self.columns: list[_Column] = []
        self.by_key: dict[str, str] = {}

    @property
    def sid(self) -> int:
        return int(self.props["sid"])

    @property
    def language(self) -> str:
        return str(self.props["language"])

    @property
    def languages(self) -> list[str]:
        return [self.language, *str(self.props.get("additional_languages") or "").split()]

    @property
    def active(self) -> bool:
        return bool(self.props["active"] == "Y")

    @property
    def has_token(self) -> bool:
        return bool(self.props["anonymized"] != "Y")

    @property
    def has_dates(self) -> bool:
        return bool(self.props["datestamp"] == "Y")

    def questions(self) -> Iterator[_Question]:
        for g in self.groups:
            yield from g.questions

    def build_columns(self) -> None:
        """The response table, in fieldmap order (token after seed, as exports put it)."""
        cols = [_Column(n, n, width=_FIXED_WIDTHS.get(n)) for n in ("id", "submitdate")]
        cols += [_Column(n, n, width=_FIXED_WIDTHS.get(n)) for n in ("lastpage", "startlanguage")]
        cols.append(_Column("seed", "seed", width=31))
        if self.has_token:
            cols.append(_Column("token", "token", width=36))
        if self.has_dates:
            cols += [_Column("startdate", "startdate"), _Column("datestamp", "datestamp")]
        for g in self.groups:
            for q in g.questions:
                if q.type in NO_COLUMN_TYPES:
                    continue
                sgq = f"{self.sid}X{g.gid}X{q.qid}"
                width = 5 if q.type in CODE_WIDTH_TYPES else None
                if q.type in SUBQUESTION_TYPES and q.subs:
                    for s in q.subs:
                        cols.append(_Column(sgq + s.title, f"{q.title}[{s.title}]", q, s, width))
                    if q.other == "Y":
                        cols.append(_Column(sgq + "other", f"{q.title}[other]", q, None, None))
                else:
                    cols.append(_Column(sgq, q.title, q, None, width))
                    if q.other == "Y":
                        cols.append(_Column(sgq + "other", f"{q.title}[other]", q, None, None))
        self.columns = cols
        self.by_key = {}
        for c in cols:
            self.by_key[c.name] = c.name
            self.by_key.setdefault(c.code, c.name)
        self.json_cache.clear()

    def default_columns(self) -> list[_Column]:
        return [c for c in self.columns if c.name != "token" or self.participant_table]

    def column(self, name: str) -> _Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def max_id(self) -> int | None:
        return self.ids[-1] if self.ids else None

    def store(self, rid: int, row: dict[str, Any]) -> None:
        if rid not in self.rows:
            bisect.insort(self.ids, rid)
        self.rows[rid] = row
        self.json_cache.pop(rid, None)
        self.next_id = max(self.next_id, rid + 1)

    def remove(self, rid: int) -> None:
        del self.rows[rid]
        i = bisect.bisect_left(self.ids, rid)
        del self.ids[i]
        self.json_cache.pop(rid, None)


_Rpc = Callable[..., Any]


def _with_session(func: _Rpc) -> _Rpc:
    """Every RC2 method but login/logout first checks the session key."""

    @functools.wraps(func)
    def checked(self: LimeSurveyDouble, ip: str, key: Any, *args: Any) -> Any:
        if not self._session_ok(key):
            return status("Invalid session key")
        return func(self, ip, key, *args)

    return checked


def _with_survey(missing: str, *, inactive: str | None = None) -> Callable[[_Rpc], _Rpc]:
    """Session check, then the survey argument looked up: ``missing`` is the method's own
    status for an unknown survey id (they differ), ``inactive`` for one without a
    response table."""

    def decorate(func: _Rpc) -> _Rpc:
        @functools.wraps(func)
        def checked(self: LimeSurveyDouble, ip: str, key: Any, sid: Any, *args: Any) -> Any:
            if not self._session_ok(key):
                return status("Invalid session key")
            s = self._find(sid)
            if s is None:
                return status(missing)
            if inactive is not None and not s.active:
                return status(inactive)
            return func(self, ip, key, s, *args)

        return checked

    return decorate


class LimeSurveyDouble:
    """The RC2 server state plus its HTTP front. Thread-safe: one lock around state."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        timezone: tzinfo | None = None,
        session_lifetime: float = 7200.0,
        max_login_attempts: int = 3,
        lockout_seconds: float = 600.0,
    ) -> None:
        self.users: dict[str, str] = dict(users or {"admin": "secret"})
        self.seed = seed
        self.clock = clock
        self.timezone = timezone
        self.session_lifetime = session_lifetime
        self.max_login_attempts = max_login_attempts
        self.lockout_seconds = lockout_seconds
        self.faults = Faults()
        self.calls: list[str] = []
        self.surveys: dict[int, _Survey] = {}
        self._questions: dict[int, _Question] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._failed: dict[str, tuple[int, float]] = {}  # ip -> (attempts, last attempt)
        self._plugins: dict[str, _Plugin] = {}
        self._plugin_values: dict[int, dict[str, dict[str, str]]] = {}  # qid -> name -> lang
        self._next_gid = 1
        self._next_qid = 1
        self._export_calls = 0
        self._export_hooks: list[tuple[int, Callable[[LimeSurveyDouble], None]]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # ----------------------------------------------------------------- time
    def now(self) -> str:
        """Server-local time as LimeSurvey writes it (``date("Y-m-d H:i:s")``)."""
        return datetime.fromtimestamp(self.clock(), self.timezone).strftime("%Y-%m-%d %H:%M:%S")

    # ------------------------------------------------------------- surveys
    def add_survey(self, spec: SurveySpec) -> int:
        """Add a survey as an .lss import would (group and question ids renumbered)."""
        with self._lock:
            if spec.sid in self.surveys:
                raise ValueError(f"survey {spec.sid} already exists in the double")
            return self._add(spec, spec.sid)

    def import_lss(self, source: bytes | str | Path) -> int:
        return self.add_survey(parse_lss(source))

    def _add(self, spec: SurveySpec, sid: int) -> int:
        props = dict(SURVEY_DEFAULTS)
        props.update({k: v for k, v in spec.properties.items() if k in SURVEY_DEFAULTS})
        props.update(
            sid=sid,
            language=spec.language,
            active="Y" if spec.active else "N",
            anonymized="Y" if spec.anonymized else "N",
            datestamp="Y" if spec.datestamp else "N",
            alloweditaftercompletion="Y" if spec.alloweditaftercompletion else "N",
            additional_languages=" ".join(spec.additional_languages),
        )
        if props["datecreated"] is None:
            props["datecreated"] = self.now()
        base = {
            "surveyls_survey_id": sid,
            "surveyls_language": spec.language,
            "surveyls_title": spec.title,
            "surveyls_description": spec.description,
            "surveyls_welcometext": "",
            "surveyls_endtext": "",
            "surveyls_url": "",
            "surveyls_urldescription": "",
            "surveyls_dateformat": 1,
            "surveyls_numberformat": 0,
        }
        base.update(spec.language_settings)
        base["surveyls_description"] = spec.description or base["surveyls_description"]
        survey = _Survey(props, {spec.language: base})
        for extra in spec.additional_languages:
            survey.langs[extra] = {**base, "surveyls_language": extra}
        main: list[tuple[_Question, QuestionSpec]] = []
        for order, g in enumerate(spec.groups, start=1):
            group = _Group(
                self._next_gid,
                sid,
                order,
                g.name,
                g.description,
                g.relevance,
                g.randomization_group,
            )
            self._next_gid += 1
            for qorder, qs in enumerate(g.questions, start=1):
                q = _Question(
                    qid=self._next_qid,
                    parent_qid=0,
                    sid=sid,
                    gid=group.gid,
                    type=qs.type,
                    title=qs.code,
                    text=qs.text,
                    help=qs.help,
                    order=qorder,
                    mandatory="Y" if qs.mandatory else "N",
                    other="Y" if qs.other else "N",
                    preg=qs.preg,
                    relevance=qs.relevance,
                    theme=qs.theme or DEFAULT_THEMES.get(qs.type, "core"),
                    answers=list(qs.answers),
                    attributes=dict(qs.attributes),
                    attributes_lang={k: dict(v) for k, v in qs.attributes_lang.items()},
                )
                self._next_qid += 1
                group.questions.append(q)
                main.append((q, qs))
            survey.groups.append(group)
        # LimeSurvey imports all questions first, then the subquestions: their ids follow
        for q, qs in main:
            for sorder, sq in enumerate(qs.subquestions, start=1):
                sub = _Question(
                    qid=self._next_qid,
                    parent_qid=q.qid,
                    sid=sid,
                    gid=q.gid,
                    type=qs.subquestion_type,
                    title=sq.code,
                    text=sq.text,
                    help="",
                    order=sorder,
                    mandatory="N",
                    other="N",
                    preg="",
                    relevance=sq.relevance,
                    theme=q.theme,
                )
                self._next_qid += 1
                q.subs.append(sub)
        for q, _ in main:
            self._questions[q.qid] = q
            for s in q.subs:
                self._questions[s.qid] = s
        survey.participant_table = spec.participant_table
        survey.build_columns()
        self.surveys[sid] = survey
        return sid

    def _survey(self, sid: int) -> _Survey:
        try:
            return self.surveys[int(sid)]
        except KeyError:
            raise KeyError(f"survey {sid} is not in the double; add it first") from None

    def activate(self, sid: int) -> None:
        with self._lock:
            self._survey(sid).props["active"] = "Y"

    def activate_tokens(self, sid: int) -> None:
        with self._lock:
            s = self._survey(sid)
            s.participant_table = True
            s.json_cache.clear()

    def set_property(self, sid: int, name: str, value: Any) -> None:
        with self._lock:
            s = self._survey(sid)
            s.props[name] = value
            if name in ("anonymized", "datestamp"):
                s.build_columns()

    def question_id(self, sid: int, code: str) -> int:
        """The qid LimeSurvey gave question ``code`` of survey ``sid``."""
        for q in self._survey(sid).questions():
            if q.title == code:
                return q.qid
        raise KeyError(f"survey {sid} has no question {code!r}")

    def columns(self, sid: int) -> dict[str, str]:
        """Export code heading -> response-table (SGQA) column, for building RC2 calls."""
        return {c.code: c.name for c in self._survey(sid).columns}

    # ------------------------------------------------------------- plugins
    def declare_plugin(
        self, name: str, attributes: Mapping[str, PluginAttribute], *, active: bool = True
    ) -> None:
        """A plugin declaring question attributes (``newQuestionAttributes``)."""
        with self._lock:
            self._plugins[name] = _Plugin(name, dict(attributes), active)

    def set_plugin_active(self, name: str, active: bool) -> None:
        with self._lock:
            self._plugins[name].active = active

    def set_question_attribute(
        self, sid: int, question: str | int, name: str, value: str, *, language: str = ""
    ) -> None:
        """Store a question attribute row (as the plugin's settings page would)."""
        with self._lock:
            qid = question if isinstance(question, int) else self.question_id(sid, question)
            self._plugin_values.setdefault(qid, {}).setdefault(name, {})[language] = value

    # ----------------------------------------------------------- responses
    def _row_from(self, s: _Survey, values: Mapping[str, Any], rid: int) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key, value in values.items():
            col = s.by_key.get(key)
            if col is None:
                raise KeyError(
                    f"survey {s.sid} has no column {key!r} (use export code headings or SGQA)"
                )
            row[col] = value
        row["id"] = rid
        return row

    def load_responses(self, sid: int, rows: Iterable[Mapping[str, Any]]) -> list[int]:
        """Bulk-load rows keyed by export code headings (or SGQA columns), no RPC.

        Missing ``submitdate`` means completed now (as add_response); ``None`` means
        incomplete. Missing ``id`` takes the next auto-increment id. Returns the ids."""
        with self._lock:
            s = self._survey(sid)
            now = self.now()
            by_key = s.by_key
            defaults: dict[str, Any] = {"startlanguage": s.language}
            if s.has_dates:
                defaults["startdate"] = now
                defaults["datestamp"] = now
            out: list[int] = []
            append_fast = True
            for values in rows:
                row = dict(defaults)
                row["submitdate"] = now
                for key, value in values.items():
                    col = by_key.get(key)
                    if col is None:
                        raise KeyError(f"survey {sid} has no column {key!r}")
                    row[col] = value
                rid = row.get("id")
                if rid is None:
                    rid = s.next_id
                rid = int(rid)
                row["id"] = rid
                if append_fast and (not s.ids or rid > s.ids[-1]):
                    s.ids.append(rid)
                    s.rows[rid] = row
                    s.next_id = rid + 1
                else:
                    append_fast = False
                    s.store(rid, row)
                out.append(rid)
            return out

    def set_response(self, sid: int, rid: int, values: Mapping[str, Any]) -> None:
        """Create or change response ``rid`` directly (an admin edit, a respondent
        finishing later); keys are code headings or SGQA columns."""
        with self._lock:
            s = self._survey(sid)
            row = dict(s.rows.get(rid, {"startlanguage": s.language}))
            row.update(self._row_from(s, values, rid))
            s.store(rid, row)

    def delete_response(self, sid: int, rid: int) -> None:
        with self._lock:
            self._survey(sid).remove(rid)

    def get_response(self, sid: int, rid: int) -> dict[str, Any]:
        """A response keyed by export code headings (all columns, token included)."""
        with self._lock:
            s = self._survey(sid)
            row = s.rows[rid]
            return {c.code: row.get(c.name) for c in s.columns}

    def response_ids(self, sid: int) -> list[int]:
        with self._lock:
            return list(self._survey(sid).ids)

    # ------------------------------------------------------------- session
    def expire_sessions(self) -> None:
        """Every issued key now answers ``Invalid session key``."""
        with self._lock:
            self._sessions.clear()

    def clear_lockouts(self) -> None:
        with self._lock:
            self._failed.clear()

    def after_exports(self, n: int, callback: Callable[[LimeSurveyDouble], None]) -> None:
        """Run ``callback(double)`` right after the n-th export call from now (e.g.
        delete or edit a response between two windows)."""
        with self._lock:
            self._export_hooks.append((self._export_calls + n, callback))

    def _session_ok(self, key: Any) -> bool:
        now = self.clock()
        for k in [k for k, (_, exp) in self._sessions.items() if exp <= now]:
            del self._sessions[k]  # LimeSurvey purges expired keys on every check
        return isinstance(key, str) and key in self._sessions

    # ------------------------------------------------------------- HTTP
    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        url = self.start(host, port)
        try:
            yield url
        finally:
            self.stop()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("the double is already serving at " + str(self.url))
        server = _Server((host, port), _Handler)
        server.double = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{server.server_address[1]}{RC_PATH}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.url = None

    # ------------------------------------------------------------- RPC core
    def handle_rpc(self, body: bytes, content_type: str, ip: str) -> tuple[int, str, bytes, str]:
        """One JSON-RPC request -> (HTTP status, content type, body, method).

        Faults are applied by the HTTP handler, around this."""
        if "application/json" not in content_type:
            return 200, HTML_CONTENT_TYPE, b"", ""
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            answer = {"id": None, "result": None, "error": "unable to decode malformed json"}
            return 200, CONTENT_TYPE, php_json_bytes(answer), ""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return (
                500,
                HTML_CONTENT_TYPE,
                error_page(
                    "call_user_func_array(): Argument #1 ($callback) must be a valid callback"
                ),
                "",
            )
        method = request["method"]
        params = request.get("params")
        rid = request.get("id")
        func = _METHODS.get(method)
        if func is None:
            return (
                500,
                HTML_CONTENT_TYPE,
                error_page(
                    "call_user_func_array(): Argument #1 ($callback) must be a valid callback, "
                    f'class remotecontrol_handle does not have a method "{method}"'
                ),
                method,
            )
        if not isinstance(params, list):
            return (
                500,
                HTML_CONTENT_TYPE,
                error_page(
                    "call_user_func_array(): Argument #2 ($args) must be of type array, "
                    f"{type(params).__name__ if params is not None else 'null'} given"
                ),
                method,
            )
        required, optional = _ARITY[method]
        if len(params) < required:
            how = "exactly" if optional == 0 else "at least"
            return (
                500,
                HTML_CONTENT_TYPE,
                error_page(
                    f"Too few arguments to function remotecontrol_handle::{method}(), "
                    f"{len(params)} passed in /var/www/limesurvey/application/libraries/"
                    f"LSjsonRPCServer.php on line 37 and {how} {required} expected"
                ),
                method,
            )
        # PHP ignores surplus arguments to a user function
        args = params[: required + optional]
        try:
            with self._lock:
                result = func(self, ip, *args)
                if method.startswith("export_responses"):
                    self._after_export()
            answer = {"id": rid, "result": result, "error": None}
        except RpcError as exc:
            answer = {"id": rid, "result": None, "error": str(exc)}
        if not rid:  # id 0, "" or missing: a notification, no body at all
            return 200, HTML_CONTENT_TYPE, b"", method
        if isinstance(answer["result"], BigDocument):
            streamed = b'{"id":%s, "result":"%s", "error":null}' % (
                php_json_bytes(rid),
                answer["result"].encode("ascii"),
            )
            return 200, CONTENT_TYPE, streamed, method
        return 200, CONTENT_TYPE, php_json_bytes(answer), method

    def _after_export(self) -> None:
        self._export_calls += 1
        due = [h for h in self._export_hooks if h[0] <= self._export_calls]
        self._export_hooks = [h for h in self._export_hooks if h[0] > self._export_calls]
        for _, callback in due:
            callback(self)

    # ----------------------------------------------------------- methods
    def rpc_get_session_key(
        self, ip: str, username: Any, password: Any, plugin: Any = "Authdb"
    ) -> Any:
        now = self.clock()
        attempts, last = self._failed.get(ip, (0, 0.0))
        if now - last >= self.lockout_seconds:
            attempts = 0
        if attempts >= self.max_login_attempts:
            return status(LOCKOUT_STATUS)
        if isinstance(username, str) and self.users.get(username) == password:
            self._failed.pop(ip, None)
            key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(32))
            self._sessions[key] = (username, now + self.session_lifetime)
            return key
        self._failed[ip] = (attempts + 1, now)
        return status("Invalid user name or password")

    def rpc_release_session_key(self, ip: str, key: Any) -> Any:
        self._session_ok(None)
        if isinstance(key, str):
            self._sessions.pop(key, None)
        return "OK"

    @_with_session
    def rpc_list_surveys(self, ip: str, key: Any, username: Any = None) -> Any:
        if username is not None and username not in self.users:
            return status("Invalid user")
        if not self.surveys:
            return status("No surveys found")
        return [
            {
                "sid": s.sid,
                "surveyls_title": s.langs[s.language]["surveyls_title"],
                "startdate": s.props["startdate"],
                "expires": s.props["expires"],
                "active": s.props["active"],
            }
            for s in self.surveys.values()
        ]

    def _find(self, sid: Any) -> _Survey | None:
        try:
            return self.surveys.get(int(sid))
        except (TypeError, ValueError):
            return None

    @_with_survey("Error: Invalid survey ID")
    def rpc_get_survey_properties(self, ip: str, key: Any, s: _Survey, props: Any = None) -> Any:
        if not props:
            return dict(s.props)
        return {p: s.props[p] for p in props if p in s.props}

    @_with_survey("Error: Invalid survey ID")
    def rpc_set_survey_properties(self, ip: str, key: Any, s: _Survey, data: Any) -> Any:
        blocked = _BLOCKED | (_BLOCKED_ACTIVE if s.active else frozenset())
        data = {k: v for k, v in dict(data or {}).items() if k not in blocked}
        if not data:
            return status("No valid Data")
        result = {}
        for name, value in data.items():
            ok = name in s.props
            if ok:
                s.props[name] = value
            result[name] = ok
        return result

    @_with_survey("Error: Invalid survey ID")
    def rpc_activate_survey(self, ip: str, key: Any, s: _Survey, options: Any = None) -> Any:
        if s.active:
            return status("Error: Survey already active")
        s.props["active"] = "Y"
        return {"status": "OK", "pluginFeedback": None}

    @_with_survey("Error: Invalid survey ID")
    def rpc_activate_tokens(self, ip: str, key: Any, s: _Survey, attributes: Any = None) -> Any:
        s.participant_table = True
        s.json_cache.clear()
        return status("OK")

    @_with_session
    def rpc_import_survey(
        self, ip: str, key: Any, data: Any, itype: Any, newname: Any = None, dest: Any = None
    ) -> Any:
        if itype != "lss":
            return status("Invalid extension")
        try:
            spec = parse_lss(base64.b64decode(str(data)))
        except Exception as exc:  # a broken upload is reported, never crashes the server
            return status(f"Error: {exc}")
        if newname:
            spec.title = str(newname)
        sid = int(dest) if dest else spec.sid
        while sid in self.surveys:  # LimeSurvey keeps the sid only when it is free
            sid = 100000 + secrets.randbelow(900000)
        return self._add(spec, sid)

    @_with_survey("Error: Invalid survey ID")
    def rpc_get_language_properties(
        self, ip: str, key: Any, s: _Survey, props: Any = None, lang: Any = None
    ) -> Any:
        lang = lang or s.language
        if lang not in s.langs:
            return status("Error: Invalid language")
        row = s.langs[lang]
        if not props:
            return dict(row)
        return {p: row[p] for p in props if p in row}

    @_with_survey("Error: Invalid survey ID")
    def rpc_list_groups(self, ip: str, key: Any, s: _Survey, lang: Any = None) -> Any:
        lang = lang or s.language
        if lang not in s.langs:
            return status("Error: Invalid language")
        if not s.groups:
            return status("No groups found")
        return [
            {
                "id": g.gid,
                "gid": g.gid,
                "sid": s.sid,
                "group_order": g.order,
                "randomization_group": g.randomization_group,
                "grelevance": g.relevance,
                "group_name": g.name,
                "description": g.description,
                "language": lang,
            }
            for g in s.groups
        ]

    @_with_survey("Error: Invalid survey ID")
    def rpc_list_questions(
        self, ip: str, key: Any, s: _Survey, gid: Any = None, lang: Any = None
    ) -> Any:
        lang = lang or s.language
        if lang not in s.langs:
            return status("Error: Invalid language")
        every = [q for g in s.groups for m in g.questions for q in (m, *m.subs)]
        if gid is not None:
            if not any(g.gid == _int(gid) for g in s.groups):
                return status("Error: IMissmatch in surveyid and groupid")
            # the group query has no ORDER BY: rows come in qid order
            chosen = sorted((q for q in every if q.gid == _int(gid)), key=lambda q: q.qid)
        else:
            order = {g.gid: g.order for g in s.groups}
            chosen = sorted(every, key=lambda q: (order[q.gid], q.order, q.qid))
        if not chosen:
            return status("No questions found")
        out = []
        for q in chosen:
            row: dict[str, Any] = {
                "id": q.qid,
                "question": q.text,
                "help": q.help,
                "language": lang,
            }
            base = q.base_row()
            gid_value = base.pop("gid")
            relevance = base.pop("relevance")
            same_script = base.pop("same_script")
            row.update(base)
            row.update(gid=gid_value, relevance=relevance, same_script=same_script)
            out.append(row)
        return out

    def _attributes(self, q: _Question, lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
        attrs: dict[str, Any] = qattributes.defaults(q.type)
        attrs.update(q.attributes)
        attrs_lang: dict[str, Any] = qattributes.defaults_lang(q.type)
        for name, by_lang in q.attributes_lang.items():
            attrs_lang[name] = by_lang.get(lang, "")
        for plugin in self._plugins.values():
            if not plugin.active:
                continue  # the attribute rows stay, but RC2 stops showing them
            for name, decl in plugin.attributes.items():
                values = self._plugin_values.get(q.qid, {}).get(name)
                if values is None or q.type not in decl.types:
                    continue
                if decl.i18n:
                    attrs_lang[name] = values.get(lang, values.get("", ""))
                else:
                    attrs[name] = values.get("", "")
        return dict(sorted(attrs.items())), dict(sorted(attrs_lang.items()))

    @_with_session
    def rpc_get_question_properties(
        self, ip: str, key: Any, qid: Any, props: Any = None, lang: Any = None
    ) -> Any:
        q = self._questions.get(_int(qid))
        if q is None:
            return status("Error: Invalid questionid")
        s = self.surveys[q.sid]
        lang = lang or s.language
        if lang not in s.langs:
            return status("Error: Invalid language")
        full: dict[str, Any] = q.base_row()
        if q.subs:
            full["available_answers"] = {sq.title: sq.text for sq in q.subs}
            full["subquestions"] = {
                str(sq.qid): {"title": sq.title, "question": sq.text, "scale_id": 0}
                for sq in q.subs
            }
        else:
            full["available_answers"] = "No available answers"
            full["subquestions"] = "No available answers"
        full["attributes"], full["attributes_lang"] = self._attributes(q, lang)
        if q.answers:
            full["answeroptions"] = {
                a.code: {
                    "answer": a.label,
                    "assessment_value": a.assessment_value,
                    "scale_id": 0,
                    "order": i,
                }
                for i, a in enumerate(q.answers, start=1)
            }
        else:
            full["answeroptions"] = "No available answer options"
        full["defaultvalue"] = None
        if not props:
            return full
        return {p: full[p] for p in props if p in full}

    @_with_survey("Error: Invalid survey ID")
    def rpc_get_fieldmap(self, ip: str, key: Any, s: _Survey) -> Any:
        labels = FIXED_LABELS["en"]
        out: dict[str, Any] = {}
        seq = {q.qid: i for i, q in enumerate(s.questions())}
        gseq = {g.gid: i for i, g in enumerate(s.groups)}
        gname = {g.gid: g for g in s.groups}
        for c in s.default_columns():
            q = c.question
            if q is None:
                first: dict[str, Any] = {"fieldname": c.name}
                # LimeSurvey builds some of these entries with type before sid
                if c.name in ("submitdate", "startdate", "datestamp", "token"):
                    first.update(type=c.name, sid=s.sid)
                else:
                    first.update(sid=s.sid, type=c.name)
                first.update(gid="", qid="", aid="", title="", question=labels[c.name])
                first["group_name"] = ""
                out[c.name] = first
                continue
            g = gname[q.gid]
            entry: dict[str, Any] = {
                "fieldname": c.name,
                "type": q.type,
                "sid": s.sid,
                "gid": q.gid,
                "qid": q.qid,
                "aid": c.sub.title if c.sub else "",
            }
            if c.sub is not None:
                entry["sqid"] = c.sub.qid
            entry.update(title=q.title, question=q.text)
            if c.sub is not None:
                entry["subquestion"] = c.sub.text
            entry.update(
                group_name=g.name,
                mandatory=q.mandatory,
                encrypted="N",
                hasconditions="N",
                usedinconditions="N",
                questionSeq=seq[q.qid],
                groupSeq=gseq[q.gid],
            )
            if c.sub is None:
                entry.update(relevance=q.relevance, grelevance=g.relevance)
            entry["preg"] = q.preg
            if c.sub is not None:
                entry["SQrelevance"] = c.sub.relevance
            if c.sub is None or c.sub is q.subs[-1]:
                # LimeSurvey adds these to the last subquestion's entry only
                if c.sub is not None:
                    entry.update(relevance=q.relevance, grelevance=g.relevance)
                entry.update(other=q.other, help=q.help)
            out[c.name] = entry
        return out

    @_with_survey("Invalid surveyid")
    def rpc_get_summary(self, ip: str, key: Any, s: _Survey, stat: Any = "all") -> Any:
        token_stats = (
            "token_count",
            "token_invalid",
            "token_sent",
            "token_opted_out",
            "token_completed",
            "token_screenout",
        )
        survey_stats = ("completed_responses", "incomplete_responses", "full_responses")
        if stat not in (*token_stats, *survey_stats, "all"):
            return status("Invalid summary key")
        summary: dict[str, int] = {}
        if stat in token_stats or stat == "all":
            if s.participant_table:
                summary.update(dict.fromkeys(token_stats, 0))
            elif stat != "all":
                return status("No available data")
        if stat in survey_stats or stat == "all":
            if s.active:
                done = sum(1 for r in s.rows.values() if r.get("submitdate") is not None)
                summary["completed_responses"] = done
                summary["incomplete_responses"] = len(s.rows) - done
                summary["full_responses"] = len(s.rows)
            elif stat != "all":
                return status("No available data")
        if stat == "all":
            return summary or []  # PHP's empty array is a JSON list
        return summary[stat]

    @_with_survey("Error: Invalid survey ID")
    def rpc_get_response_ids(self, ip: str, key: Any, s: _Survey, token: Any) -> Any:
        if not s.active:
            return status("No survey response table")
        return [rid for rid in s.ids if s.rows[rid].get("token") == token]

    # exports ---------------------------------------------------------------
    @_with_survey("No permission", inactive="No Data, survey table does not exist.")
    def rpc_export_responses(
        self,
        ip: str,
        key: Any,
        s: _Survey,
        doc_type: Any,
        lang: Any = None,
        completion: Any = "all",
        heading: Any = "code",
        rtype: Any = "short",
        from_id: Any = None,
        to_id: Any = None,
        fields: Any = None,
        options: Any = None,
    ) -> Any:
        max_id = s.max_id()
        if not max_id:
            return status("No Data, could not get max id.")
        if lang and lang not in s.langs:
            return status("Language code not found for this survey.")
        lo = 0 if from_id is None else _int(from_id)
        hi = max_id if to_id is None else _int(to_id)
        ids = s.ids[bisect.bisect_left(s.ids, lo) : bisect.bisect_right(s.ids, hi)]
        return self._document(s, ids, doc_type, lang, completion, heading, rtype, fields)

    @_with_survey("No permission", inactive="No Data, survey table does not exist.")
    def rpc_export_responses_by_token(
        self,
        ip: str,
        key: Any,
        s: _Survey,
        doc_type: Any,
        token: Any,
        lang: Any = None,
        completion: Any = "all",
        heading: Any = "code",
        rtype: Any = "short",
        fields: Any = None,
    ) -> Any:
        if lang and lang not in s.langs:
            return status("Language code not found for this survey.")
        ids = [rid for rid in s.ids if s.rows[rid].get("token") == token]
        if not s.has_token or not ids:
            return status("No Response found for Token")
        return self._document(s, ids, doc_type, lang, completion, heading, rtype, fields)

    def _document(
        self,
        s: _Survey,
        ids: list[int],
        doc_type: Any,
        lang: Any,
        completion: Any,
        heading: Any,
        rtype: Any,
        fields: Any,
    ) -> str:
        if doc_type not in ("json", "csv"):
            raise RpcError(f"Writer for {doc_type} should implement IWriter")
        rows = s.rows
        if completion == "complete":
            ids = [i for i in ids if rows[i].get("submitdate") is not None]
        elif completion == "incomplete":
            ids = [i for i in ids if rows[i].get("submitdate") is None]
        lang = lang or s.language
        if fields:
            cols = [c for c in (s.column(str(f)) for f in fields) if c is not None]
        else:
            cols = s.default_columns()
        labels = FIXED_LABELS.get(lang, FIXED_LABELS["en"])
        heads = [_heading(c, heading, labels) for c in cols]
        long = rtype == "long"
        if doc_type == "json":
            fast = not fields and heading == "code" and not long
            parts: list[bytes] = []
            cache = s.json_cache
            for i in ids:
                if fast and i in cache:
                    parts.append(cache[i])
                    continue
                row = rows[i]
                values = [_value(c, row.get(c.name), long) for c in cols]
                encoded = php_json_bytes(dict(zip(heads, values, strict=True)))
                if fast:
                    cache[i] = encoded
                parts.append(encoded)
            doc = b'{"responses": [' + b",".join(parts) + b"]}"
        elif not ids:
            doc = b"\r\n"
        else:
            lines = [";".join(_csv(h) for h in heads)]
            for i in ids:
                row = rows[i]
                lines.append(";".join(_csv(_value(c, row.get(c.name), long)) for c in cols))
            doc = b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n"
        return BigDocument(base64.b64encode(doc).decode("ascii"))

    # writes ----------------------------------------------------------------
    def _check_widths(self, s: _Survey, data: Mapping[str, Any]) -> None:
        for name, value in data.items():
            c = s.column(name)
            too_long = c is not None and c.width is not None and len(str(value)) > c.width
            if value is not None and too_long:
                raise RpcError(
                    "CDbCommand failed to execute the SQL statement: SQLSTATE[22001]: "
                    "String data, right truncated: 1406 Data too long for column "
                    f"'{name}' at row 1"
                )

    @_with_survey("Error: Invalid survey ID")
    def rpc_add_response(self, ip: str, key: Any, s: _Survey, data: Any) -> Any:
        if not s.active:
            return status("No survey response table")
        data = dict(data or {})
        now = self.now()
        if "submitdate" in data and not _php_truthy(data["submitdate"]):
            del data["submitdate"]
        elif data.get("submitdate") is None:
            data["submitdate"] = now
        if data.get("startlanguage") is None:
            data["startlanguage"] = s.language
        if s.has_dates:
            if data.get("datestamp") is None:
                data["datestamp"] = now
            if data.get("startdate") is None:
                data["startdate"] = now
        names = {c.name for c in s.columns}
        data = {k: v for k, v in data.items() if k in names}  # unknown keys: dropped silently
        given_id = data.get("id")
        rid = _int(given_id) if given_id is not None else s.next_id
        if given_id is None:
            s.next_id += 1  # consumed even if the insert fails, like AUTO_INCREMENT
        if rid in s.rows:
            raise RpcError(
                "CDbCommand failed to execute the SQL statement: SQLSTATE[23000]: Integrity "
                f"constraint violation: 1062 Duplicate entry '{rid}' for key 'PRIMARY'"
            )
        self._check_widths(s, data)
        row = {k: _stored(k, v) for k, v in data.items()}
        row["id"] = rid
        s.store(rid, row)
        return given_id if given_id is not None else str(rid)

    @_with_survey("Error: Invalid survey ID")
    def rpc_update_response(self, ip: str, key: Any, s: _Survey, data: Any) -> Any:
        if s.props.get("alloweditaftercompletion") != "Y":
            return status("Survey does not allow edit after completion")
        if not s.active:
            return status("No survey response table")
        data = dict(data or {})
        if data.get("id") is None and data.get("token") is None:
            return status("Missing response identifier (id|token)")
        if data.get("id") is not None:
            found = [_int(data["id"])] if _int(data["id"]) in s.rows else []
        else:
            found = [rid for rid in s.ids if s.rows[rid].get("token") == data["token"]]
        if not found:
            return status("No matching Response")
        if len(found) > 1:
            return status(
                "More then one matching response, updateing multiple responses at once is "
                "not supported."
            )
        names = {c.name for c in s.columns}
        invalid = [k for k in data if k not in names]
        if invalid:
            return status("Invalid Column names supplied: " + ", ".join(invalid))
        if data.get("id") is None:
            del data["token"]  # it identified the response; it is not a change
        self._check_widths(s, data)
        rid = found[0]
        row = dict(s.rows[rid])
        row.update({k: _stored(k, v) for k, v in data.items() if k != "id"})
        s.store(rid, row)
        return True

    @_with_survey("Error: Invalid survey ID")
    def rpc_delete_response(self, ip: str, key: Any, s: _Survey, rid: Any) -> Any:
        if not s.active:
            return status("No survey response table")
        rid_int = _int(rid)
        if rid_int not in s.rows:
            return status("Response Id not found")
        s.remove(rid_int)
        return {str(rid_int): "deleted"}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _php_truthy(value: Any) -> bool:
    return value not in (None, "", "0", 0, False, [], {})


def _stored(column: str, value: Any) -> Any:
    """What reading the column back gives: ints for id/lastpage, text otherwise."""
    if value is None:
        return None
    if column in ("id", "lastpage"):
        return _int(value) if value != "" else None
    if column in _DATE_FIXED and value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _heading(c: _Column, heading: Any, labels: Mapping[str, str]) -> str:
    if heading in ("full", "abbreviated", "codetext"):
        if c.question is None:
            text = labels.get(c.name, c.name)
        elif c.sub is not None:
            text = f"{_strip_tags(c.question.text)} [{_strip_tags(c.sub.text)}]"
        else:
            text = _strip_tags(c.question.text)
        return c.code + text if heading == "codetext" else text
    return c.code


def _value(c: _Column, value: Any, long: bool) -> Any:
    if not long:
        return value
    if value is None:
        return ""
    q = c.question
    if q is not None and q.answers:
        for a in q.answers:
            if a.code == value:
                return a.label
    return str(value)


def _csv(value: Any) -> str:
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"'


def _php_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )


def error_page(message: str) -> bytes:
    """The shape of LimeSurvey's HTTP 500 page (title, h2.error-title with the message)."""
    return (
        '\n\n<!DOCTYPE html>\n<html lang="en" dir="ltr" class="en dir-ltr  no-js ">\n'
        '<head>\n    <meta http-equiv="content-type" content="text/html; charset=UTF-8"/>\n'
        "<title>\n                    500: Internal Server Error\n            </title>\n"
        '</head>\n<body class="error-page fruity_twentythree lang-en ">\n'
        '    <div class="container m-auto ">\n        <div class="row align-items-center">\n'
        '            <div class="col">\n                <h2 class="error-title">\n'
        "                                            500: Internal Server Error\n"
        f"                                        {_php_escape(message)}\n"
        "                </h2>\n"
        '                <div class="error-content">An internal error occurred while the '
        "Web server was processing your request.</div>\n"
        "            </div>\n        </div>\n    </div>\n</body>\n</html>\n"
    ).encode()


_METHODS: dict[str, Callable[..., Any]] = {
    name[4:]: getattr(LimeSurveyDouble, name)
    for name in dir(LimeSurveyDouble)
    if name.startswith("rpc_")
}


def _arity(func: Callable[..., Any]) -> tuple[int, int]:
    import inspect

    params = list(inspect.signature(func).parameters.values())[2:]  # self, ip
    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
    return required, len(params) - required


_ARITY = {name: _arity(func) for name, func in _METHODS.items()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    double: LimeSurveyDouble


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this, Nagle + delayed ACK
    # add 40 ms to every keep-alive request
    disable_nagle_algorithm = True
    server_version = "Apache"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read d.calls; request logs would only be noise

    def do_GET(self) -> None:
        self._send(404, HTML_CONTENT_TYPE, b"<html><body>Not found</body></html>")

    def do_POST(self) -> None:
        double = self.server.double
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?")[0] != RC_PATH:
            self._send(404, HTML_CONTENT_TYPE, b"<html><body>Not found</body></html>")
            return
        method, has_key, key = _peek(body)
        if method:
            with double._lock:
                double.calls.append(method)
        kind, delay, rng = double.faults.draw(method or "", has_key)
        if delay > 0:
            time.sleep(delay)
        if kind == "reset":
            self._reset()
            return
        if kind == "http500":
            self._send(
                500,
                HTML_CONTENT_TYPE,
                error_page("CDbConnection failed to open the DB connection."),
            )
            return
        if kind == "session" and isinstance(key, str):
            with double._lock:
                double._sessions.pop(key, None)
        code, ctype, answer, _ = double.handle_rpc(
            body, self.headers.get("Content-Type") or "", self.client_address[0]
        )
        if kind == "timeout":
            time.sleep(double.faults.timeout_sleep)
            self.close_connection = True
            return
        if kind == "truncate" and answer:
            cut = max(1, len(answer) // 2)
            # "Connection: close" so the client never reuses this socket: a request sent
            # on it would fail without reaching the server (and without a fault draw)
            if rng.random() < 0.5:
                self._send(code, ctype, answer[:cut], length=len(answer), close=True)
            else:
                self._send(code, ctype, answer[:cut], close=True)
            self.close_connection = True
            return
        self._send(code, ctype, answer)

    def _send(
        self, code: int, ctype: str, body: bytes, length: int | None = None, close: bool = False
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer"
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


def _peek(body: bytes) -> tuple[str | None, bool, Any]:
    """The method name and session key of a request, for d.calls and faults."""
    try:
        request = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, False, None
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return None, False, None
    method = request["method"]
    params = request.get("params")
    has_key = method not in ("get_session_key", "release_session_key")
    key = params[0] if has_key and isinstance(params, list) and params else None
    return method, has_key and key is not None, key
