"""Question attributes LimeSurvey 6.2.1 reports for a question type, with their defaults.

``get_question_properties`` returns every attribute known for the type, set or not, under
``attributes`` (``attributes_lang`` for the i18n ones), sorted by name. The tables for L,
F, T and S are copied from the captures (``rc2/get_question_properties__*``); other types
get the attributes every type has, which is enough for a sync client (it reads only
attributes it set itself).
"""

from __future__ import annotations

_TIME_LIMIT: dict[str, str | None] = {
    "time_limit": "",
    "time_limit_action": "1",
    "time_limit_disable_next": "0",
    "time_limit_disable_prev": "0",
    "time_limit_message_delay": "",
    "time_limit_message_style": "",
    "time_limit_timer_style": "",
    "time_limit_warning": "",
    "time_limit_warning_2": "",
    "time_limit_warning_2_display_time": "",
    "time_limit_warning_2_style": "",
    "time_limit_warning_display_time": "",
    "time_limit_warning_style": "",
}
_TIME_LIMIT_LANG: dict[str, str | None] = {
    "time_limit_countdown_message": "",
    "time_limit_message": "",
    "time_limit_warning_2_message": "",
    "time_limit_warning_message": "",
}
_COMMON: dict[str, str | None] = {
    "cssclass": "",
    "em_validation_q": "",
    "hidden": "0",
    "hide_tip": "0",
    "page_break": "0",
    "random_group": "",
    "statistics_graphtype": "0",
    "statistics_showgraph": "1",
}
_ARRAY_FILTER: dict[str, str | None] = {
    "array_filter": "",
    "array_filter_exclude": "",
    "array_filter_style": "0",
    "public_statistics": "0",
    "scale_export": "0",
}
_TEXT: dict[str, str | None] = {
    **_COMMON,
    **_TIME_LIMIT,
    "display_rows": "",
    "input_size": None,
    "maximum_chars": None,
    "text_input_width": None,
}

ATTRIBUTES: dict[str, dict[str, str | None]] = {
    "L": {
        **_COMMON,
        **_ARRAY_FILTER,
        **_TIME_LIMIT,
        "answer_order": "normal",
        "display_columns": None,
        "other_comment_mandatory": "0",
        "other_numbers_only": "0",
        "other_position": "default",
        "other_position_code": "",
    },
    "F": {
        **_COMMON,
        **_ARRAY_FILTER,
        "answer_width": "",
        "exclude_all_others": "",
        "max_answers": "",
        "min_answers": "",
        "random_order": "0",
        "repeat_headings": None,
        "use_dropdown": "0",
    },
    "T": dict(_TEXT),
    "S": {
        **_TEXT,
        "location_city": "0",
        "location_country": "0",
        "location_defaultcoordinates": "",
        "location_mapheight": "300",
        "location_mapservice": "0",
        "location_mapwidth": "500",
        "location_mapzoom": "11",
        "location_nodefaultfromip": "0",
        "location_postal": "0",
        "location_state": "0",
        "numbers_only": "0",
        "statistics_showmap": "1",
    },
}

ATTRIBUTES_LANG: dict[str, dict[str, str | None]] = {
    "L": {
        "em_validation_q_tip": "",
        "other_replace_text": "",
        "printable_help": None,
        **_TIME_LIMIT_LANG,
    },
    "F": {"em_validation_q_tip": "", "printable_help": None},
    "T": {"em_validation_q_tip": "", **_TIME_LIMIT_LANG},
    "S": {"em_validation_q_tip": "", "prefix": "", "suffix": "", **_TIME_LIMIT_LANG},
}


def defaults(qtype: str) -> dict[str, str | None]:
    return dict(ATTRIBUTES.get(qtype, _COMMON))


def defaults_lang(qtype: str) -> dict[str, str | None]:
    return dict(ATTRIBUTES_LANG.get(qtype, {"em_validation_q_tip": ""}))
