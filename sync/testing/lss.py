"""Read a LimeSurvey ``.lss`` survey export (XML, DBVersion 6xx) into a ``SurveySpec``,
and write one (``write_lss``: the benchmark survey for a real LimeSurvey, ``bench.seed``).

Only what the double needs: survey settings, the base language's texts, groups,
questions, subquestions, answer options and question attributes. Ids in the file are
ignored (LimeSurvey renumbers groups and questions on import); the ``sid`` is kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from sync.errors import InputError, Location
from sync.testing.spec import AnswerOption, GroupSpec, QuestionSpec, SubQuestion, SurveySpec

#: lime_surveys columns that are integers (the rest are strings or dates)
INT_COLUMNS = frozenset(
    {
        "sid",
        "owner_id",
        "gsid",
        "autonumber_start",
        "showsurveypolicynotice",
        "tokenlength",
        "bouncetime",
        "questionindex",
        "navigationdelay",
    }
)
DATE_COLUMNS = frozenset({"expires", "startdate", "datecreated"})


def _rows(doc: ET.Element, section: str) -> list[dict[str, str]]:
    node = doc.find(section)
    if node is None:
        return []
    out = []
    for row in node.iterfind("rows/row"):
        out.append({child.tag: (child.text or "") for child in row})
    return out


def _survey_value(name: str, raw: str) -> Any:
    if name in DATE_COLUMNS:
        return raw or None
    if name in INT_COLUMNS:
        return int(raw) if raw.strip() else 0
    return raw


def parse_lss(source: bytes | str | Path, *, name: str = "<lss>") -> SurveySpec:
    """Parse an .lss document (bytes, text, or a path). Raises ``InputError`` naming the
    file when it is not a LimeSurvey survey export."""
    if isinstance(source, Path):
        name = str(source)
        data: bytes | str = source.read_bytes()
    else:
        data = source
    try:
        doc = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise InputError(
            Location(file=name, line=line), f"not valid XML: {exc}", "give a LimeSurvey .lss"
        ) from None
    if doc.findtext("LimeSurveyDocType") != "Survey":
        raise InputError(Location(file=name), "not a LimeSurvey survey export (LimeSurveyDocType)")
    surveys = _rows(doc, "surveys")
    if not surveys:
        raise InputError(Location(file=name), "the .lss has no <surveys> row")
    props = {k: _survey_value(k, v) for k, v in surveys[0].items()}
    language = str(props.get("language") or "en")
    ls_rows = _rows(doc, "surveys_languagesettings")
    base_ls = next((r for r in ls_rows if r.get("surveyls_language") == language), {})

    def in_lang(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if r.get("language", language) == language]

    group_text = {r["gid"]: r for r in in_lang(_rows(doc, "group_l10ns"))}
    q_text = {r["qid"]: r for r in in_lang(_rows(doc, "question_l10ns"))}
    answer_text = {r["aid"]: r["answer"] for r in in_lang(_rows(doc, "answer_l10ns"))}
    answers: dict[str, list[tuple[int, AnswerOption]]] = {}
    for r in _rows(doc, "answers"):
        if r.get("scale_id", "0") not in ("", "0"):
            continue  # dual-scale answers: not modelled by the double
        opt = AnswerOption(
            r["code"], answer_text.get(r["aid"], ""), int(r.get("assessment_value") or 0)
        )
        answers.setdefault(r["qid"], []).append((int(r.get("sortorder") or 0), opt))
    attrs: dict[str, dict[str, str]] = {}
    attrs_lang: dict[str, dict[str, dict[str, str]]] = {}
    for r in _rows(doc, "question_attributes"):
        if r.get("language"):
            attrs_lang.setdefault(r["qid"], {}).setdefault(r["attribute"], {})[r["language"]] = r[
                "value"
            ]
        else:
            attrs.setdefault(r["qid"], {})[r["attribute"]] = r["value"]
    subs: dict[str, list[tuple[int, SubQuestion, str]]] = {}
    for r in _rows(doc, "subquestions"):
        text = q_text.get(r["qid"], {}).get("question", "")
        subs.setdefault(r["parent_qid"], []).append(
            (
                int(r.get("question_order") or 0),
                SubQuestion(r["title"], text, r.get("relevance") or "1"),
                r.get("type", "T"),
            )
        )
    questions: dict[str, list[tuple[int, QuestionSpec]]] = {}
    for r in _rows(doc, "questions"):
        qid = r["qid"]
        texts = q_text.get(qid, {})
        sq = sorted(subs.get(qid, []), key=lambda t: t[0])
        q = QuestionSpec(
            code=r["title"],
            type=r["type"],
            text=texts.get("question", ""),
            help=texts.get("help", ""),
            mandatory=r.get("mandatory") == "Y",
            answers=[o for _, o in sorted(answers.get(qid, []), key=lambda t: t[0])],
            subquestions=[s for _, s, _ in sq],
            attributes=attrs.get(qid, {}),
            attributes_lang=attrs_lang.get(qid, {}),
            theme=r.get("question_theme_name") or None,
            other=r.get("other") == "Y",
            preg=r.get("preg", ""),
            relevance=r.get("relevance") or "1",
            subquestion_type=sq[0][2] if sq else "T",
        )
        questions.setdefault(r["gid"], []).append((int(r.get("question_order") or 0), q))
    groups = []
    for r in sorted(_rows(doc, "groups"), key=lambda g: int(g.get("group_order") or 0)):
        texts = group_text.get(r["gid"], {})
        groups.append(
            GroupSpec(
                name=texts.get("group_name", ""),
                description=texts.get("description", ""),
                relevance=r.get("grelevance") or "1",
                randomization_group=r.get("randomization_group", ""),
                questions=[q for _, q in sorted(questions.get(r["gid"], []), key=lambda t: t[0])],
            )
        )
    extra_ls: dict[str, Any] = {
        k: v
        for k, v in base_ls.items()
        if k not in ("surveyls_survey_id", "surveyls_language", "surveyls_title")
    }
    for k in ("surveyls_dateformat", "surveyls_numberformat"):
        if k in extra_ls:
            extra_ls[k] = int(extra_ls[k] or 0)
    additional = tuple(str(props.get("additional_languages") or "").split())
    return SurveySpec(
        sid=int(props["sid"]),
        title=base_ls.get("surveyls_title", ""),
        language=language,
        groups=groups,
        active=False,
        anonymized=props.get("anonymized") == "Y",
        datestamp=props.get("datestamp") == "Y",
        alloweditaftercompletion=props.get("alloweditaftercompletion") == "Y",
        description=base_ls.get("surveyls_description", ""),
        additional_languages=additional,
        properties=props,
        language_settings=extra_ls,
    )


# -- writing ------------------------------------------------------------------------------

#: LimeSurvey 6's core theme of each question type (``question_theme_name``)
DEFAULT_THEMES = {
    "L": "listradio",
    "!": "list_dropdown",
    "O": "list_with_comment",
    "F": "arrays/array",
    "H": "arrays/column",
    "T": "longfreetext",
    "S": "shortfreetext",
    "U": "hugefreetext",
    "N": "numerical",
    "M": "multiplechoice",
}

_QUESTION_FIELDS = (
    "qid",
    "parent_qid",
    "sid",
    "gid",
    "type",
    "title",
    "preg",
    "other",
    "mandatory",
    "encrypted",
    "question_order",
    "scale_id",
    "same_default",
    "relevance",
    "question_theme_name",
    "modulename",
    "same_script",
)


def _section(name: str, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> ET.Element:
    node = ET.Element(name)
    names = ET.SubElement(node, "fields")
    for f in fields:
        ET.SubElement(names, "fieldname").text = f
    body = ET.SubElement(node, "rows")
    for row in rows:
        out = ET.SubElement(body, "row")
        for f in fields:
            value = row.get(f)
            ET.SubElement(out, f).text = None if value in (None, "") else str(value)
    return node


def write_lss(spec: SurveySpec) -> str:
    """``spec`` as a LimeSurvey 6 ``.lss`` (DBVersion 612) that LimeSurvey's import (the
    admin UI, RC2 ``import_survey``) and ``parse_lss`` read: the base language only.
    Groups, questions and answers are numbered from 1 in the file; LimeSurvey keeps the
    ``sid`` if it is free and numbers the rest its own way."""
    lang = spec.language
    yes = {True: "Y", False: "N"}
    groups, group_l10n, questions, subquestions, question_l10n = [], [], [], [], []
    answers, answer_l10n, attributes = [], [], []
    qid = aid = 0
    for g_order, group in enumerate(spec.groups, start=1):
        gid = g_order
        groups.append(
            {
                "gid": gid,
                "sid": spec.sid,
                "group_order": g_order,
                "randomization_group": group.randomization_group,
                "grelevance": group.relevance,
            }
        )
        group_l10n.append(
            {
                "id": gid,
                "gid": gid,
                "group_name": group.name,
                "description": group.description,
                "language": lang,
                "sid": spec.sid,
            }
        )
        for q_order, q in enumerate(group.questions, start=1):
            qid += 1
            parent = qid
            theme = q.theme or DEFAULT_THEMES.get(q.type, "")
            base = {"sid": spec.sid, "gid": gid, "preg": q.preg, "encrypted": "N"}
            base |= {"scale_id": 0, "same_default": 0, "modulename": "", "same_script": 0}
            questions.append(
                base
                | {
                    "qid": parent,
                    "parent_qid": 0,
                    "type": q.type,
                    "title": q.code,
                    "other": yes[q.other],
                    "mandatory": yes[q.mandatory],
                    "question_order": q_order,
                    "relevance": q.relevance,
                    "question_theme_name": theme,
                }
            )
            question_l10n.append(
                {"id": parent, "qid": parent, "question": q.text, "help": q.help, "language": lang}
            )
            for s_order, sub in enumerate(q.subquestions, start=1):
                qid += 1
                subquestions.append(
                    base
                    | {
                        "qid": qid,
                        "parent_qid": parent,
                        "type": q.subquestion_type,
                        "title": sub.code,
                        "other": "N",
                        "mandatory": "N",
                        "question_order": s_order,
                        "relevance": sub.relevance,
                        "question_theme_name": theme,
                    }
                )
                question_l10n.append(
                    {"id": qid, "qid": qid, "question": sub.text, "help": "", "language": lang}
                )
            for a_order, option in enumerate(q.answers, start=1):
                aid += 1
                answers.append(
                    {
                        "aid": aid,
                        "qid": parent,
                        "code": option.code,
                        "sortorder": a_order,
                        "assessment_value": option.assessment_value,
                        "scale_id": 0,
                    }
                )
                answer_l10n.append(
                    {"id": aid, "aid": aid, "answer": option.label, "language": lang}
                )
            for name, value in q.attributes.items():
                attributes.append(
                    {"qid": parent, "attribute": name, "value": value, "language": ""}
                )
            for name, texts in q.attributes_lang.items():
                for language, value in texts.items():
                    attributes.append(
                        {"qid": parent, "attribute": name, "value": value, "language": language}
                    )
    survey: dict[str, Any] = {
        "sid": spec.sid,
        "gsid": 1,
        "admin": "Pingyi",
        "adminemail": "pingyi@example.invalid",
        "anonymized": yes[spec.anonymized],
        "format": "G",
        "language": lang,
        "additional_languages": " ".join(spec.additional_languages),
        "datestamp": yes[spec.datestamp],
        "ipaddr": "N",
        "refurl": "N",
        "usetokens": "N",
        "alloweditaftercompletion": yes[spec.alloweditaftercompletion],
        "template": "inherit",
        "showwelcome": "Y",
        "allowprev": "Y",
    }
    settings = {
        "surveyls_survey_id": spec.sid,
        "surveyls_language": lang,
        "surveyls_title": spec.title,
        "surveyls_description": spec.description,
        "surveyls_dateformat": 6,
        "surveyls_numberformat": 0,
    }
    doc = ET.Element("document")
    ET.SubElement(doc, "LimeSurveyDocType").text = "Survey"
    ET.SubElement(doc, "DBVersion").text = "612"
    languages = ET.SubElement(doc, "languages")
    ET.SubElement(languages, "language").text = lang
    a_fields = ("aid", "qid", "code", "sortorder", "assessment_value", "scale_id")
    doc.append(_section("answers", a_fields, answers))
    doc.append(_section("answer_l10ns", ("id", "aid", "answer", "language"), answer_l10n))
    g_fields = ("gid", "sid", "group_order", "randomization_group", "grelevance")
    doc.append(_section("groups", g_fields, groups))
    gl_fields = ("id", "gid", "group_name", "description", "language", "sid")
    doc.append(_section("group_l10ns", gl_fields, group_l10n))
    doc.append(_section("questions", _QUESTION_FIELDS, questions))
    doc.append(_section("subquestions", _QUESTION_FIELDS, subquestions))
    ql_fields = ("id", "qid", "question", "help", "language")
    doc.append(_section("question_l10ns", ql_fields, question_l10n))
    qa_fields = ("qid", "attribute", "value", "language")
    doc.append(_section("question_attributes", qa_fields, attributes))
    doc.append(_section("surveys", tuple(survey), [survey]))
    doc.append(_section("surveys_languagesettings", tuple(settings), [settings]))
    ET.indent(doc)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(doc, "unicode") + "\n"
