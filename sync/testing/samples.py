"""Ready-made surveys and responses for tests, demos and benchmarks.

``satisfaction_survey`` is the survey of the captures (``fixtures/mklss.py``): office (L,
unit codes), overall (L, A1..A5), detail (F array SQ001..SQ004), comment (T), phone (S).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from sync.testing.spec import AnswerOption, GroupSpec, QuestionSpec, SubQuestion, SurveySpec

SATISFACTION = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
OFFICES = (
    ("U0101", "东城区政务服务中心"),
    ("U0102", "西城区政务服务中心"),
    ("U0105", "朝阳区政务服务中心"),
    ("U0106", "丰台区政务服务中心"),
)
OFFICE_CODES = tuple(code for code, _ in OFFICES)
ASPECTS = ("办理效率", "服务态度", "办事环境", "信息公开")
COMMENTS = (
    "办事很快，工作人员态度好。",
    "排队两个小时😡，名字里有𠮷字的系统打不出来！",
    "窗口人员耐心解答，点赞👍",
    "",
    None,
)


def satisfaction_survey(
    sid: int = 111111,
    title: str = "政务服务满意度调查（测试）",
    *,
    offices: tuple[tuple[str, str], ...] = OFFICES,
    active: bool = True,
    anonymized: bool = False,
    datestamp: bool = True,
    language: str = "zh-Hans",
) -> SurveySpec:
    scale = [AnswerOption(f"A{i}", label) for i, label in enumerate(SATISFACTION, start=1)]
    return SurveySpec(
        sid=sid,
        title=title,
        language=language,
        active=active,
        anonymized=anonymized,
        datestamp=datestamp,
        description="政务服务“好差评”满意度调查 𠮷",
        groups=[
            GroupSpec(
                "基本信息",
                [
                    QuestionSpec(
                        "office",
                        "L",
                        "您办理业务的是哪个服务网点？",
                        mandatory=True,
                        answers=[AnswerOption(c, t) for c, t in offices],
                    ),
                    QuestionSpec(
                        "overall",
                        "L",
                        "您对本次办事的总体满意度如何？",
                        help="请选择一项",
                        mandatory=True,
                        answers=list(scale),
                        attributes={"hide_tip": "1"},
                    ),
                ],
            ),
            GroupSpec(
                "评价",
                [
                    QuestionSpec(
                        "detail",
                        "F",
                        "请对以下各方面进行评价",
                        answers=list(scale),
                        subquestions=[
                            SubQuestion(f"SQ{i:03d}", t) for i, t in enumerate(ASPECTS, start=1)
                        ],
                    ),
                    QuestionSpec(
                        "comment", "T", "您还有什么意见或建议？", attributes={"display_rows": "5"}
                    ),
                    QuestionSpec("phone", "S", "联系电话（选填）"),
                ],
            ),
        ],
    )


def satisfaction_rows(
    n: int,
    *,
    seed: int = 0,
    incomplete: float = 0.1,
    offices: tuple[str, ...] = OFFICE_CODES,
    submitdate: str = "2024-03-01 10:00:00",
) -> Iterator[dict[str, Any]]:
    """``n`` plausible rows for ``satisfaction_survey`` keyed by export code headings,
    the same for the same seed."""
    rng = random.Random(seed)
    codes = [f"A{i}" for i in range(1, 6)]
    weights = (40, 30, 15, 10, 5)
    for _ in range(n):
        done = rng.random() >= incomplete
        row: dict[str, Any] = {
            "submitdate": submitdate if done else None,
            "lastpage": None if done else 1,
            "office": rng.choice(offices),
            "overall": rng.choices(codes, weights)[0],
            "comment": rng.choice(COMMENTS),
            "phone": None,
        }
        for i in range(1, 5):
            row[f"detail[SQ{i:03d}]"] = rng.choices(codes, weights)[0] if done else None
        yield row
