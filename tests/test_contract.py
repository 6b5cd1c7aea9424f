"""Contract: the double answers every captured LimeSurvey 6.2.1 request as the real one did.

One test per file in ``shared/limesurvey-6.2.1/rc2``. Each test rebuilds the state the
capture saw by replaying the capture script's earlier calls (``capture/cap_*.py``) on a
fresh double over real HTTP, sends the same request, and compares HTTP status, content
type, the raw body and the decoded export documents byte for byte. The only things
normalised are session keys (32 characters), timestamps written "now" during the run
(the capture's run day vs. our clock) and the base64 wrapper of documents (compared
decoded instead).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sync.testing.double import CONTENT_TYPE, LimeSurveyDouble, PluginAttribute

pytestmark = pytest.mark.contract

SHARED = Path(os.environ.get("PINGYI_SHARED_DIR") or Path(__file__).parents[2] / "shared")
CAPTURES = SHARED / "limesurvey-6.2.1" / "rc2"
LSS = Path(__file__).parent / "fixtures" / "lss"
PASSWORD = "test-password"
CAPTURE_DAY = "2026-11-26"  # the day the captures were made: their "now" timestamps
KEY_RE = re.compile(r"^[A-Za-z0-9_~-]{32}$")
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def capture_names() -> list[str]:
    if not CAPTURES.is_dir():
        raise FileNotFoundError(
            f"LimeSurvey captures not found at {CAPTURES}: clone with shared/ beside the "
            "repository or set PINGYI_SHARED_DIR"
        )
    return sorted(p.stem for p in CAPTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURES / f"{name}.json").read_text("utf-8"))
    return data


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------ state
Action = Callable[[LimeSurveyDouble, Clock], None]


@dataclass(frozen=True)
class Call:
    """A call the capture script made without saving it."""

    method: str
    params: list[Any]


Step = str | Call | Action
LOGIN = Call("get_session_key", ["admin", "PASSWORD"])


def imported(d: LimeSurveyDouble, clock: Clock) -> None:
    # s1, s2, s3 imported in this order: gids 1-2, 3-4, 5-6 and qids 1-9, 10-18, 19-27
    for name in ("s1", "s2", "s3"):
        d.import_lss(LSS / f"{name}.lss")


def active(d: LimeSurveyDouble, clock: Clock) -> None:
    imported(d, clock)
    d.activate(111111)
    d.activate(333333)


def clear_lockouts(d: LimeSurveyDouble, clock: Clock) -> None:
    d.clear_lockouts()  # cap_session: DELETE FROM lime_failed_login_attempts


def expire_keys(d: LimeSurveyDouble, clock: Clock) -> None:
    clock.t += 7201  # cap_session forced lime_sessions.expire into the past


def take_survey(d: LimeSurveyDouble, clock: Clock) -> None:
    """takesurvey.py: response 4 of survey 333333 answered through the web pages: the
    runtime writes 1980-01-01 for datestamp=N surveys and "" for shown-but-unanswered."""
    d.set_response(
        333333,
        4,
        {
            "submitdate": "1980-01-01 00:00:00",
            "lastpage": 2,
            "startlanguage": "zh-Hans",
            "seed": "1666839595",
            "office": "U0106",
            "overall": "A4",
            "detail[SQ001]": "A4",
            "detail[SQ002]": "",
            "detail[SQ003]": "",
            "detail[SQ004]": "",
            "comment": "前端提交测试𠮷😀",
            "phone": "",
        },
    )


def sync_probe(active_plugin: bool) -> Action:
    """The SyncProbe plugin: attributes for types LFT, rows set on overall and phone."""

    def setup(d: LimeSurveyDouble, clock: Clock) -> None:
        active(d, clock)
        d.declare_plugin(
            "SyncProbe",
            {
                "syncDimension": PluginAttribute("LFT"),
                "syncDimensionI18n": PluginAttribute("LFT", i18n=True),
            },
            active=active_plugin,
        )
        for code in ("overall", "phone"):
            d.set_question_attribute(111111, code, "syncDimension", "overall_sat")
            d.set_question_attribute(
                111111, code, "syncDimensionI18n", "总体满意度", language="zh-Hans"
            )

    return setup


SESSION: list[Step] = [
    "get_session_key__ok",
    "get_session_key__wrong_password",
    "get_session_key__unknown_user",
    "get_session_key__wrong_password_3rd",
    "get_session_key__locked_out_correct_password",
    "list_surveys__existing_key_during_lockout",
    clear_lockouts,
    LOGIN,
    "release_session_key__ok",
    "list_surveys__released_session_key",
    "release_session_key__already_released",
    "get_survey_properties__invalid_session_key",
    LOGIN,
    expire_keys,
    "export_responses__expired_session_key",
    "unknown_method",
    "get_session_key__missing_param",
    "get_session_key__id_zero_no_response",
    "malformed_json",
    "wrong_content_type",
]
SURVEY: list[Step] = [
    LOGIN,
    "export_responses__inactive_survey",
    "add_response__inactive_survey",
    "activate_survey__ok",
    "activate_survey__already_active",
    Call("activate_survey", ["SESSION_KEY", 333333]),
    "export_responses__active_no_responses",
    "get_response_ids__no_token_match",
]
META: list[Step] = [
    LOGIN,
    "list_surveys__ok",
    "list_surveys__unknown_username",
    "get_survey_properties__all",
    "get_survey_properties__selected",
    "get_survey_properties__nonexistent_survey",
    "get_language_properties__title",
    "list_groups__ok",
    "list_groups__nonexistent_survey",
    "list_questions__all",
    "list_questions__by_group",
    "list_questions__nonexistent_survey",
    "list_questions__wrong_language",
    "get_question_properties__L_office_all",
    "get_question_properties__L_overall_all",
    "get_question_properties__F_array_all",
    "get_question_properties__T_longtext_all",
    "get_question_properties__subquestion_all",
    "get_question_properties__F_array_selected",
    "get_question_properties__L_office_answeroptions",
    "get_question_properties__nonexistent",
    "get_summary__all_no_responses",
    "get_summary__inactive",
    "get_fieldmap__ok",
]
RESP: list[Step] = [
    LOGIN,
    "add_response__complete_default_dates",
    "add_response__incomplete_empty_submitdate",
    "add_response__complete_explicit_dates_chinese_emoji",
    "add_response__incomplete_null_submitdate",
    "add_response__with_token",
    "add_response__question_codes_not_sgqa",
    "add_response__value_too_long_for_varchar5",
    "add_response__explicit_id",
    "add_response__nonexistent_survey",
    "update_response__edit_after_completion_not_allowed",
    "set_survey_properties__alloweditaftercompletion",
    "update_response__complete_incomplete_response",
    "update_response__by_token",
    "update_response__no_such_id",
    "update_response__invalid_column",
    "update_response__missing_identifier",
    "update_response__set_submitdate_null",
    "delete_response__ok",
    "delete_response__already_deleted",
    "delete_response__nonexistent_survey",
    "add_response__after_delete",
    "get_response_ids__by_token",
    "get_summary__all_with_responses",
    "get_summary__completed_responses",
    "add_response__anon_nodatestamp_complete",
    Call(
        "add_response",
        ["SESSION_KEY", 333333, {"333333X5X19": "U0102", "333333X5X20": "A2", "submitdate": ""}],
    ),
    "add_response__anon_nodatestamp_1980",
]
EXPORT: list[Step] = [
    LOGIN,
    *(
        "export_responses__" + case
        for case in (
            "json_complete_code_short",
            "json_incomplete_code_short",
            "json_all_code_short",
            "json_all_full_long",
            "json_all_code_long",
            "json_all_abbreviated_short",
            "json_all_codetext_short",
            "json_complete_from_to",
            "json_all_from_only",
            "json_empty_range",
            "json_from_gt_to",
            "json_complete_range_only_incomplete",
            "json_selected_fields",
            "json_wrong_language",
            "csv_complete_code_short",
            "csv_all_code_short",
            "csv_all_full_long",
            "csv_empty_range",
            "nonexistent_survey",
            "unknown_document_type",
        )
    ),
    "export_responses_by_token__json_ok",
    "export_responses_by_token__unknown_token",
]
TOKENS: list[Step] = [
    LOGIN,
    "export_responses__json_token_field_without_participant_table",
    "activate_tokens__ok",
    "export_responses__json_with_participant_table",
    "get_summary__all_with_participant_table",
    "export_responses__json_full_long_with_participant_table",
]


def after_responses(d: LimeSurveyDouble, clock: Clock) -> None:
    """State after cap_resp.py and takesurvey.py (what cap_export.py saw)."""
    active(d, clock)
    Replayer(d, clock).run(RESP)
    take_survey(d, clock)


def empty(d: LimeSurveyDouble, clock: Clock) -> None:
    pass


#: (state before the script, the script) in capture order
SCRIPTS: list[tuple[Action, list[Step]]] = [
    (empty, [LOGIN, "import_survey__lss_ok"]),
    (active, SESSION),
    (imported, SURVEY),
    (active, META),
    (active, RESP),
    (after_responses, EXPORT),
    (after_responses, [LOGIN, "export_responses__anon_nodatestamp_json_all"]),
    (after_responses, TOKENS),
    (sync_probe(True), [LOGIN, "get_question_properties__L_with_plugin_attribute"]),
    (sync_probe(True), [LOGIN, "get_question_properties__S_plugin_attribute_wrong_type"]),
    (sync_probe(False), [LOGIN, "get_question_properties__L_plugin_deactivated"]),
]


@dataclass
class Reply:
    status: int
    content_type: str | None
    body: bytes


class Replayer:
    def __init__(self, double: LimeSurveyDouble, clock: Clock) -> None:
        self.double = double
        self.clock = clock
        self.key: str | None = None
        self.n = 0
        self.http = requests.Session()
        self.url = ""

    def substitute(self, value: Any) -> Any:
        if value == "SESSION_KEY":
            return self.key
        if value == "PASSWORD":
            return PASSWORD
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        return value

    def post(self, body: bytes, content_type: str = "application/json") -> Reply:
        r = self.http.post(self.url, data=body, headers={"Content-Type": content_type})
        return Reply(r.status_code, r.headers.get("Content-Type"), r.content)

    def send(self, name: str) -> Reply:
        """The captured request, as ``capture/rc.py`` sent it."""
        cap = load(name)
        if name == "malformed_json":
            return self.post(cap["raw_request_body"].encode())
        request_id = cap.get("id", cap.get("response", {}).get("id", self.n))
        if name == "wrong_content_type":
            request_id = 5
        # wrong_content_type.json did not keep its params: cap_session.py sent a login
        params = cap.get("params", ["admin", "PASSWORD"])
        body = {
            "method": cap["method"],
            "params": self.substitute(params),
            "id": request_id,
        }
        return self.post(
            json.dumps(body).encode(), cap.get("request_content_type", "application/json")
        )

    def call(self, method: str, params: list[Any]) -> Reply:
        body = {"method": method, "params": self.substitute(params), "id": self.n}
        return self.post(json.dumps(body).encode())

    def step(self, step: Step) -> Reply | None:
        self.n += 1
        if isinstance(step, str):
            reply = self.send(step)
            method = load(step).get("method")
        elif isinstance(step, Call):
            reply = self.call(step.method, step.params)
            method = step.method
        else:
            step(self.double, self.clock)
            self.n -= 1  # a direct change, not a request
            return None
        if method == "get_session_key" and reply.content_type == CONTENT_TYPE:
            result = json.loads(reply.body)["result"]
            if isinstance(result, str):
                self.key = result
        return reply

    def run(self, steps: list[Step], until: str | None = None) -> Reply | None:
        with self.double.serve() as url:
            self.url = url
            for step in steps:
                reply = self.step(step)
                if step == until:
                    return reply
        return None


def script_of(name: str) -> tuple[Action, list[Step]]:
    found = [(state, steps) for state, steps in SCRIPTS if name in steps]
    assert len(found) == 1, f"capture {name} must be in exactly one replay script"
    return found[0]


# -------------------------------------------------------------- compare
class Normaliser:
    """Replace exactly what may differ between runs, nothing else."""

    def __init__(self, started: float, clock: Clock) -> None:
        self.lo = started - 60
        self.clock = clock

    def ours(self, text: str) -> str:
        def stamp(m: re.Match[str]) -> str:
            t = datetime.strptime(m.group(0), "%Y-%m-%d %H:%M:%S").timestamp()
            return "<NOW>" if self.lo <= t <= self.clock.t + 60 else m.group(0)

        return STAMP_RE.sub(stamp, text)

    @staticmethod
    def theirs(text: str) -> str:
        return re.sub(CAPTURE_DAY + r" \d\d:\d\d:\d\d", "<NOW>", text)


def html_summary(text: str) -> list[str]:
    found = re.findall(r"<title>(.*?)</title>|<h2[^>]*>(.*?)</h2>", text, re.S)
    return [" ".join("".join(parts).split()) for parts in found]


@pytest.fixture(scope="module")
def names() -> list[str]:
    return capture_names()


def test_every_capture_has_a_replay(names: list[str]) -> None:
    scripted = {s for _, steps in SCRIPTS for s in steps if isinstance(s, str)}
    assert sorted(scripted) == names


@pytest.fixture
def world() -> tuple[LimeSurveyDouble, Clock]:
    clock = Clock()
    return LimeSurveyDouble(users={"admin": PASSWORD}, clock=clock), clock


def _param_names() -> list[str]:
    try:
        return capture_names()
    except FileNotFoundError:
        return ["<captures missing>"]


@pytest.mark.parametrize("name", _param_names())
def test_capture(name: str, world: tuple[LimeSurveyDouble, Clock]) -> None:
    capture_names()  # fails loudly, with the path, when the captures are missing
    double, clock = world
    started = clock.t
    state, steps = script_of(name)
    state(double, clock)
    index = steps.index(name)
    reply = Replayer(double, clock).run(steps[: index + 1], until=name)
    assert reply is not None
    cap = load(name)
    norm = Normaliser(started, clock)

    assert reply.status == cap["http_status"]
    raw = cap.get("raw_body")
    if "response" not in cap:  # no JSON-RPC answer at all: compare the bytes
        assert reply.body.decode("utf-8") == raw
        return
    response = cap["response"]
    if "__unparsed_body__" in response:  # the HTML 500 page
        assert reply.content_type == cap["response_content_type"]
        assert html_summary(reply.body.decode()) == html_summary(response["__unparsed_body__"])
        return
    assert reply.content_type == (cap["response_content_type"] or CONTENT_TYPE)

    ours_text = reply.body.decode("ascii")  # PHP escapes all non-ASCII
    theirs_text = raw or ""
    ours = json.loads(ours_text)
    theirs = json.loads(json.dumps(response))
    if cap["method"] == "get_session_key" and isinstance(theirs["result"], str):
        assert KEY_RE.match(ours["result"]), ours["result"]
        ours_text = ours_text.replace(ours["result"], "<KEY>")
        theirs_text = theirs_text.replace(theirs["result"], "<KEY>")
        ours["result"] = theirs["result"] = "<KEY>"
    if "decoded" in cap and isinstance(theirs["result"], str):
        assert isinstance(ours["result"], str), ours
        doc_ours = base64.b64decode(ours["result"]).decode("utf-8")
        doc_theirs = base64.b64decode(theirs["result"]).decode("utf-8")
        assert norm.ours(doc_ours) == norm.theirs(doc_theirs)
        ours["result"] = theirs["result"] = "<DOC>"
        ours_text = re.sub(r'"result":"[^"]*"', '"result":"<DOC>"', ours_text)
        theirs_text = re.sub(r'"result":"[^"]*"', '"result":"<DOC>"', theirs_text)
    assert json.loads(norm.ours(json.dumps(ours))) == json.loads(norm.theirs(json.dumps(theirs)))
    if theirs_text:  # early captures did not keep the raw body
        assert norm.ours(ours_text) == norm.theirs(theirs_text)
