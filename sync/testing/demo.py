"""Demo data: the district's surveys built from ``mappings/`` and a year of responses.

``build_surveys`` turns each binding in ``mappings/surveys/`` into the LimeSurvey survey a
designer would have built for it (unit list question, rated list and array questions with
the scale's answer codes including 不了解, comment and private text questions, and the
Pingyi plugin's question attributes set as the plugin would: ``pingyiRole``,
``pingyiDimension``, and ``pingyiScale`` / ``pingyiCodeMap`` where the binding has a scale,
an answer_map or a unit code_map). ``generate`` then writes responses for every survey,
the same for the same seed:

- every unit has a latent quality, its system a shift, and a few units are clearly bad,
  so grades, ranks and the rectification ledger have something to say;
- each respondent group has its own leniency (a system rating itself is kind, conduct
  supervisors are strict) and its own sample size (citizens many, supervisors few, one
  self-assessment per unit, a few units below the campaign's minimum sample);
- about 5% don't-know answers, comments from a bank of real-sounding praise and
  complaints (排队时间长, 乱收费, 态度生硬 ..., some with emoji and 𠮷), about 8% incomplete
  responses of which some are completed later, and a handful of rows the sync must
  quarantine (unknown unit code, answer code outside the scale, unit unanswered).

``DemoData.expected`` is the generator's own record of what it made, which the demo prints
and the tests compare with what the sync stored.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync.bindings import Binding, CommentColumn, FixedUnit, RatingArray, RatingColumn
from sync.testing.double import LimeSurveyDouble, PluginAttribute
from sync.testing.spec import AnswerOption, GroupSpec, QuestionSpec, SubQuestion, SurveySpec

if TYPE_CHECKING:
    from sync.catalogue import Catalogue, Scale

PLUGIN = "Pingyi"
ROLE = "pingyiRole"
DIMENSION = "pingyiDimension"
SCALE = "pingyiScale"
CODE_MAP = "pingyiCodeMap"
#: the question types the plugin declares its attributes for (plugin QuestionRoles.php):
#: role and dimension for all, scale and code map for lists and arrays
PLUGIN_TYPES = "L!OFHSTU"
MAPPED_TYPES = "L!OFH"


def _code_map(pairs: Mapping[str, str]) -> str:
    """A binding's answer_map / code_map as the plugin's pingyiCodeMap text."""
    return "; ".join(f"{answer}={code}" for answer, code in pairs.items())


#: which systems' units a group's unit list offers (a group not listed: every unit of the
#: campaign). 千家企业评执法: enterprises rate law-enforcement and service units.
AUDIENCE: dict[str, tuple[str, ...]] = {
    "enterprises": ("police", "market", "tax", "housing", "hrss", "utility"),
    "taxpayers": ("tax",),
}
#: share of the responses (self-assessments aside: one per unit) each group answers
SHARE: dict[str, float] = {
    "citizens": 0.40,
    "enterprises": 0.22,
    "representatives": 0.12,
    "supervisors": 0.12,
    "taxpayers": 0.08,
    "community": 0.06,
}
#: how kindly a group rates (added to the latent satisfaction)
LENIENCY: dict[str, float] = {
    "self": 1.1,
    "representatives": 0.35,
    "taxpayers": 0.15,
    "community": 0.1,
    "citizens": 0.0,
    "enterprises": -0.15,
    "supervisors": -0.45,
}
SYSTEM_EFFECT: dict[str, float] = {
    "tax": 0.35,
    "civil": 0.2,
    "hrss": 0.15,
    "edu": 0.1,
    "market": 0.05,
    "police": 0.0,
    "utility": -0.2,
    "health": -0.3,
    "housing": -0.35,
}
DIMENSION_EFFECT: dict[str, float] = {
    "integrity": 0.15,
    "openness": 0.1,
    "service_awareness": 0.05,
    "efficiency": -0.2,
    "rectification": -0.1,
    "kickbacks": -0.1,
    "fees": -0.35,
    "access": -0.5,
}
BASE = 0.75
#: latent value -> scale rank (5 best): above the first cut rank 5, and so on
CUTS = (0.95, 0.0, -0.85, -1.65)
DONT_KNOW = 0.05
INCOMPLETE = 0.08
COMPLETED_LATER = 0.4  # of the incomplete ones
BAD_UNITS = 5
UNDER_SAMPLED = 3  # units per group with far fewer answers than the others
SELF_MISSING = 2  # units whose supervising department filed no self-assessment
SUPERVISORS = 40
YEAR_START = datetime(2022, 3, 1, 8, 30)
YEAR_DAYS = 270

PRAISE = (
    "工作人员态度热情，办事效率高，点赞！",
    "窗口服务规范，一次就办好了，不用来回跑。",
    "流程清楚，材料一次性告知，很满意。",
    "环境整洁，有引导员帮忙取号，服务周到。",
    "比去年进步很大，网上预约很方便。",
    "老师很负责，对孩子很有耐心。",
    "医生问诊仔细，解释得很清楚。",
    "执法人员文明规范，先出示证件再检查。",
    "办税服务厅新增了自助机，几分钟就办完了。",
)
COMPLAINTS: dict[str, tuple[str, ...]] = {
    "": (
        "排队时间长，等了两个多小时才轮到。",
        "工作人员态度生硬，问两句就不耐烦。",
        "材料要求不一次说清，跑了三趟才办成。",
        "窗口开得少，中午没人办公。",
        "电话一直打不通，咨询无人接听。",
        "办事指南和窗口说法不一致，让人无所适从。",
        "政务公开栏信息好久没有更新。",
        "上次反映的问题到现在也没有整改。",
    ),
    "edu": (
        "学校乱收费，补课费、资料费名目繁多。",
        "要求家长购买指定教辅，变相收费。",
        "个别老师暗示家长参加校外有偿补课。",
    ),
    "health": (
        "看病难，挂号排队一上午，看病只有三分钟。",
        "医生开大处方，检查项目太多。",
        "听说有收红包的情况，希望严查。",
    ),
    "tax": (
        "办税大厅排队时间长，自助机经常故障。",
        "政策解释口径不一，不同窗口说法不同。",
    ),
    "housing": (
        "房产证办理拖了三个月，一直说系统问题。",
        "维修资金申请手续繁琐，推诿扯皮。",
    ),
    "police": (
        "户籍窗口态度生硬，开证明来回跑。",
        "执法时不出示证件，态度粗暴。",
    ),
    "market": (
        "检查过于频繁，影响正常经营。",
        "营业执照变更材料反复要求补正。",
    ),
    "hrss": ("社保转移接续要跑好几个部门。", "养老金资格认证流程复杂，老人不会操作。"),
    "civil": ("低保审核时间太长，没有进度告知。", "便民服务中心经常找不到负责人。"),
    "utility": ("停水不提前通知，抢修太慢。", "公交线路调整没有征求意见。"),
}
#: some respondents write like this: emoji, and a name with a 4-byte CJK character
DECORATIONS = ("😡", "👍", "🙏", "😊", "我叫𠮷田，名字里的𠮷字系统总是打不出来。", "𠮷")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
COMPANIES = (
    "天津市河西区鑫源商贸有限公司",
    "天津友谊路餐饮管理有限公司",
    "天津梅江建筑工程有限公司",
)


def _label(scale: Scale, code: str) -> str:
    for level in scale.levels:
        if level.code == code:
            return level.label
    for excluded in scale.excluded:
        if excluded.code == code:
            return excluded.label
    return code


@dataclass(frozen=True)
class Item:
    """One rated export column of a demo survey, with its answer codes by rank."""

    column: str
    dimension: str
    by_rank: Mapping[int, str]  # scale rank (5 best .. 1 worst) -> answer code in the survey
    dont_know: str | None
    bad: str  # an answer code the scale does not know (for the quarantine examples)


@dataclass(frozen=True)
class DemoSurvey:
    binding: Binding
    spec: SurveySpec
    #: question code -> plugin attribute -> value (what a designer sets in the plugin)
    attributes: Mapping[str, Mapping[str, str]]
    #: catalogue unit codes respondents rate
    units: tuple[str, ...]
    #: catalogue unit code -> the answer code the survey's unit question uses
    unit_answer: Mapping[str, str]
    items: tuple[Item, ...]
    #: private text columns (never copied by the sync)
    private: tuple[str, ...]

    @property
    def sid(self) -> int:
        return self.binding.survey_id

    @property
    def group(self) -> str:
        return self.binding.group

    @property
    def unit_column(self) -> str | None:
        return None if isinstance(self.binding.unit, FixedUnit) else self.binding.unit.column


def _units_for(catalogue: Catalogue, binding: Binding) -> tuple[tuple[str, ...], dict[str, str]]:
    """The units a survey lets respondents rate, and each one's answer code."""
    if isinstance(binding.unit, FixedUnit):
        return (binding.unit.unit,), {}
    if binding.unit.code_map:
        answer = {unit: code for code, unit in binding.unit.code_map.items()}
        return tuple(sorted(answer)), answer
    systems = AUDIENCE.get(binding.group)
    units = tuple(
        u.code
        for u in catalogue.campaign_units(binding.campaign)
        if systems is None or u.system in systems
    )
    return units, {u: u for u in units}


def _scale_answers(scale: Scale, answer_map: Mapping[str, str]) -> list[AnswerOption]:
    """The answer options a rated question offers: the scale's codes (and 不了解), or the
    survey's own codes when the binding maps them."""
    if answer_map:
        return [AnswerOption(code, _label(scale, level)) for code, level in answer_map.items()]
    options = [AnswerOption(lv.code, lv.label) for lv in scale.levels]
    options += [AnswerOption(ex.code, ex.label) for ex in scale.excluded]
    return options


def _item(column: str, dimension: str, scale: Scale, answer_map: Mapping[str, str]) -> Item:
    back = {level: code for code, level in answer_map.items()}
    by_rank = {lv.rank: back.get(lv.code, lv.code) for lv in scale.levels}
    excluded = [back.get(ex.code, ex.code) for ex in scale.excluded]
    if answer_map:
        known = set(answer_map)
        bad = next(str(i) for i in range(10) if str(i) not in known)
    else:
        bad = "A7" if "A7" not in by_rank.values() else "Z9"
    return Item(column, dimension, by_rank, excluded[0] if excluded else None, bad)


def build_survey(catalogue: Catalogue, binding: Binding) -> DemoSurvey:
    """The LimeSurvey survey a designer would build for ``binding``."""
    campaign = catalogue.campaigns[binding.campaign]
    units, unit_answer = _units_for(catalogue, binding)
    first: list[QuestionSpec] = []
    rated: list[QuestionSpec] = []
    texts: list[QuestionSpec] = []
    attributes: dict[str, dict[str, str]] = {}
    items: list[Item] = []
    if not isinstance(binding.unit, FixedUnit):
        first.append(
            QuestionSpec(
                binding.unit.column,
                "L",
                "您评议的是哪个单位？",
                mandatory=True,
                answers=[AnswerOption(unit_answer[u], catalogue.units[u].name) for u in units],
            )
        )
        attributes[binding.unit.column] = {ROLE: "unit"}
        if binding.unit.code_map:
            attributes[binding.unit.column][CODE_MAP] = _code_map(binding.unit.code_map)
    for rating in binding.ratings:
        scale = catalogue.scales[rating.scale or campaign.scale]
        options = _scale_answers(scale, rating.answer_map)
        if isinstance(rating, RatingColumn):
            name = catalogue.dimensions[rating.dimension].name
            rated.append(QuestionSpec(rating.column, "L", f"您对{name}是否满意？", answers=options))
            attributes[rating.column] = {ROLE: "rated", DIMENSION: rating.dimension}
            items.append(_item(rating.column, rating.dimension, scale, rating.answer_map))
        elif isinstance(rating, RatingArray):
            subs = [
                SubQuestion(code, catalogue.dimensions[dim].name)
                for code, dim in rating.subquestions.items()
            ]
            rated.append(
                QuestionSpec(
                    rating.question,
                    "F",
                    "请对以下各方面进行评价",
                    answers=options,
                    subquestions=subs,
                )
            )
            rows = "; ".join(f"{code}={dim}" for code, dim in rating.subquestions.items())
            attributes[rating.question] = {ROLE: "rated", DIMENSION: rows}
            items.extend(
                _item(f"{rating.question}[{code}]", dim, scale, rating.answer_map)
                for code, dim in rating.subquestions.items()
            )
        tagged = attributes[rating.column if isinstance(rating, RatingColumn) else rating.question]
        if rating.scale:
            tagged[SCALE] = rating.scale
        if rating.answer_map:
            tagged[CODE_MAP] = _code_map(rating.answer_map)
    for comment in binding.comments:
        texts.append(QuestionSpec(comment.column, "T", "您还有什么意见或建议？"))
        attributes[comment.column] = {ROLE: "comment"}
        if comment.dimension:
            attributes[comment.column][DIMENSION] = comment.dimension
    for column in binding.private:
        first.append(QuestionSpec(column, "S", "联系方式（选填，仅用于回访）"))
        attributes[column] = {ROLE: "private"}
    groups = [GroupSpec("基本信息", first), GroupSpec("评价", rated), GroupSpec("意见建议", texts)]
    spec = SurveySpec(
        sid=binding.survey_id,
        title=binding.title or f"{catalogue.groups[binding.group].name}评议问卷",
        description=f"{campaign.name}：{catalogue.groups[binding.group].name}问卷",
        groups=[g for g in groups if g.questions],
        active=True,
        participant_table=binding.token == "hash",
    )
    return DemoSurvey(
        binding=binding,
        spec=spec,
        attributes=attributes,
        units=units,
        unit_answer=unit_answer,
        items=tuple(items),
        private=tuple(binding.private),
    )


def build_surveys(catalogue: Catalogue) -> list[DemoSurvey]:
    """One demo survey per binding of the catalogue, in survey id order."""
    return [build_survey(catalogue, b) for _, b in sorted(catalogue.bindings.items())]


# -- responses --------------------------------------------------------------------------


@dataclass
class Expected:
    """What the generator made for one survey (what a correct sync must end up with)."""

    survey_id: int
    group: str
    rows: int = 0
    #: complete, valid responses at first sight
    complete: int = 0
    #: incomplete at first sight (complete + incomplete + bad = rows)
    incomplete: int = 0
    #: incomplete ones the respondent finishes later (``DemoData.complete_later``)
    completed_later: int = 0
    #: complete rows the sync must quarantine, by reason code
    bad: Counter[str] = field(default_factory=Counter)
    #: in the valid responses once the later ones are in: ratings given / 不了解 / comments
    observations: int = 0
    dont_know: int = 0
    comments: int = 0
    #: valid responses per unit (later ones included)
    per_unit: Counter[str] = field(default_factory=Counter)

    @property
    def stored(self) -> int:
        """Responses in the records after both passes."""
        return self.complete + self.completed_later

    @property
    def pending(self) -> int:
        return self.incomplete - self.completed_later

    @property
    def quarantined(self) -> int:
        return sum(self.bad.values())


@dataclass
class DemoData:
    surveys: list[DemoSurvey]
    #: survey id -> rows keyed by export code headings, in response id order (id = index+1)
    rows: dict[int, list[dict[str, Any]]]
    #: survey id -> row index -> the completed row (an incomplete response finished later)
    later: dict[int, dict[int, dict[str, Any]]]
    expected: dict[int, Expected]
    #: unit -> latent quality (0 average; the bad units are far below)
    quality: dict[str, float]
    bad_units: tuple[str, ...]
    #: every comment text of a valid response, for byte-exact checks
    comment_texts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def load(self, double: LimeSurveyDouble) -> None:
        """Add the surveys (with the plugin's attributes) and bulk-load the responses."""
        double.declare_plugin(
            PLUGIN,
            {
                ROLE: PluginAttribute(PLUGIN_TYPES),
                DIMENSION: PluginAttribute(PLUGIN_TYPES),
                SCALE: PluginAttribute(MAPPED_TYPES),
                CODE_MAP: PluginAttribute(MAPPED_TYPES),
            },
        )
        for survey in self.surveys:
            double.add_survey(survey.spec)
            for question, values in survey.attributes.items():
                for name, value in values.items():
                    double.set_question_attribute(survey.sid, question, name, value)
            ids = double.load_responses(survey.sid, self.rows[survey.sid])
            if ids and ids != list(range(1, len(ids) + 1)):
                raise RuntimeError(f"survey {survey.sid}: the double did not number rows 1..n")

    def complete_later(self, double: LimeSurveyDouble) -> int:
        """Respondents finish the responses they left incomplete (``later``)."""
        done = 0
        for sid, rows in self.later.items():
            for index, row in rows.items():
                double.set_response(sid, index + 1, row)
                done += 1
        return done


class _Writer:
    """Draws the responses of one survey."""

    def __init__(self, rng: random.Random, catalogue: Catalogue, data: DemoData) -> None:
        self.rng = rng
        self.catalogue = catalogue
        self.data = data
        self.weak: dict[str, str] = {}  # unit -> its weakest dimension

    def times(self, n: int) -> list[datetime]:
        """Submission times over the campaign, office hours, ascending (ids follow time)."""
        out = []
        for _ in range(n):
            day = YEAR_START + timedelta(days=self.rng.randrange(YEAR_DAYS))
            out.append(day + timedelta(seconds=self.rng.randrange(9 * 3600)))
        return sorted(out)

    def rank(self, survey: DemoSurvey, unit: str, dimension: str, mood: float) -> int:
        system = self.catalogue.units[unit].system
        y = (
            BASE
            + self.data.quality[unit]
            + SYSTEM_EFFECT.get(system, 0.0)
            + LENIENCY.get(survey.group, 0.0)
            + DIMENSION_EFFECT.get(dimension, 0.0)
            + (-0.7 if self.weak.get(unit) == dimension else 0.0)
            + mood
            + self.rng.gauss(0.0, 0.75)
        )
        for rank, cut in zip((5, 4, 3, 2), CUTS, strict=True):
            if y > cut:
                return rank
        return 1

    def comment(self, unit: str, unhappy: bool) -> str:
        rng = self.rng
        if unhappy:
            bank = COMPLAINTS[""] + COMPLAINTS.get(self.catalogue.units[unit].system, ())
            text = rng.choice(bank)
            if rng.random() < 0.3:
                text = f"{self.catalogue.units[unit].name}：{text}"
        else:
            text = rng.choice(PRAISE)
        if rng.random() < 0.15:
            text += rng.choice(DECORATIONS)
        return text

    def private(self, column: str) -> str | None:
        rng = self.rng
        if rng.random() < 0.6:
            return None
        if column in ("company",):
            return rng.choice(COMPANIES)
        if column in ("contact", "visitor"):
            return rng.choice(SURNAMES) + rng.choice(("先生", "女士", "老师"))
        if column == "address":
            return f"河西区友谊路{rng.randrange(1, 300)}号"
        if column == "taxid":
            return f"91120103MA{rng.randrange(10**7):07d}X"
        return f"13{rng.randrange(10**9):09d}"

    def answers(
        self, survey: DemoSurvey, unit: str, exp: Expected | None
    ) -> tuple[dict[str, Any], bool]:
        """One respondent's answers for ``unit``; counts into ``exp`` when given.
        Returns (answers, unhappy)."""
        rng = self.rng
        system = self.catalogue.units[unit].system
        mood = rng.gauss(0.0, 0.55)
        row: dict[str, Any] = {}
        unhappy = False
        for item in survey.items:
            if not self.catalogue.dimensions[item.dimension].applies_to(system):
                row[item.column] = None  # a LimeSurvey condition hides it for this unit
                continue
            if rng.random() < 0.01:
                row[item.column] = None  # skipped (arrays are not mandatory)
                continue
            if item.dont_know is not None and rng.random() < DONT_KNOW:
                row[item.column] = item.dont_know
                if exp is not None:
                    exp.observations += 1
                    exp.dont_know += 1
                continue
            rank = self.rank(survey, unit, item.dimension, mood)
            unhappy = unhappy or rank <= 2
            row[item.column] = item.by_rank[rank]
            if exp is not None:
                exp.observations += 1
        comments: Sequence[CommentColumn] = survey.binding.comments
        for n, spec in enumerate(comments):
            chance = (0.55 if unhappy else 0.12) / (1 + n)
            if rng.random() < chance:
                text = self.comment(unit, unhappy)
                row[spec.column] = text
                if exp is not None:
                    exp.comments += 1
                    self.data.comment_texts[text] += 1
            else:
                row[spec.column] = rng.choice((None, None, "", " "))
        for column in survey.private:
            row[column] = self.private(column)
        if survey.unit_column is not None:
            row[survey.unit_column] = survey.unit_answer[unit]
        return row, unhappy


def _stamp(row: dict[str, Any], when: datetime | None, started: datetime) -> None:
    row["submitdate"] = when.strftime("%Y-%m-%d %H:%M:%S") if when else None
    row["startdate"] = started.strftime("%Y-%m-%d %H:%M:%S")
    row["datestamp"] = (when or started).strftime("%Y-%m-%d %H:%M:%S")


def _counts(n: int, surveys: Sequence[DemoSurvey], units: int) -> dict[int, int]:
    """Responses per survey: one self-assessment per unit (a couple missing), the rest
    shared out by group."""
    out: dict[int, int] = {}
    self_n = sum(len(s.units) for s in surveys if s.group == "self") - SELF_MISSING
    rest = max(0, n - max(0, self_n))
    by_group: dict[str, list[DemoSurvey]] = {}
    for s in surveys:
        by_group.setdefault(s.group, []).append(s)
    weights = {g: SHARE.get(g, 0.05) for g in by_group if g != "self"}
    total = sum(weights.values()) or 1.0
    for group, members in by_group.items():
        if group == "self":
            for s in members:
                out[s.sid] = max(0, len(s.units) - SELF_MISSING)
            continue
        share = rest * weights[group] / total
        # a group's surveys share its responses by how many units each offers: the
        # district-wide list gets far more answers than a six-office survey
        offered = sum(len(s.units) for s in members) or 1
        for s in members:
            out[s.sid] = round(share * len(s.units) / offered)
    # rounding: the largest survey takes the difference so the total is exactly n
    if out and n > 0:
        biggest = max(out, key=lambda sid: out[sid])
        out[biggest] = max(0, out[biggest] + n - sum(out.values()))
    return out


def generate(catalogue: Catalogue, n: int = 30_000, seed: int = 2022) -> DemoData:
    """About ``n`` responses over every demo survey; the same ``seed`` gives the same
    surveys and rows."""
    rng = random.Random(seed)
    surveys = build_surveys(catalogue)
    units = sorted(catalogue.units)
    quality = {u: rng.gauss(0.0, 0.4) for u in units}
    bad_units = tuple(sorted(rng.sample(units, BAD_UNITS)))
    for u in bad_units:
        quality[u] = -2.0 - rng.random() * 0.6
    data = DemoData(surveys, {}, {}, {}, quality, bad_units)
    writer = _Writer(rng, catalogue, data)
    dims = sorted(catalogue.dimensions)
    writer.weak = {u: rng.choice(dims) for u in units}
    counts = _counts(n, surveys, len(units))
    bad_each = max(1, n // 10_000)  # per kind and survey: a handful in all

    for survey in surveys:
        sid = survey.sid
        exp = Expected(sid, survey.group)
        data.expected[sid] = exp
        count = counts.get(sid, 0)
        rows: list[dict[str, Any]] = []
        later: dict[int, dict[str, Any]] = {}
        # who rates which unit: popularity varies, a few units are hardly rated at all
        if survey.group == "self":
            skipped = set(rng.sample(survey.units, min(SELF_MISSING, len(survey.units))))
            picks = [u for u in survey.units if u not in skipped]
        else:
            popularity = [math.exp(rng.gauss(0.0, 0.3)) for _ in survey.units]
            if len(survey.units) > UNDER_SAMPLED * 3:
                for i in rng.sample(range(len(survey.units)), UNDER_SAMPLED):
                    popularity[i] *= 0.05
            picks = rng.choices(survey.units, weights=popularity, k=count)
        # the bad rows (only where the survey asks for the unit), at random positions
        bad_rows: dict[int, str] = {}
        if survey.unit_column is not None and len(picks) > 100 * bad_each:
            slots = rng.sample(range(len(picks)), 3 * bad_each)
            for i, slot in enumerate(slots):
                bad_rows[slot] = ("unknown_unit", "unknown_answer", "no_unit")[i % 3]
        times = writer.times(len(picks))
        for index, (unit, when) in enumerate(zip(picks, times, strict=True)):
            started = when - timedelta(seconds=rng.randrange(60, 1200))
            reason = bad_rows.get(index)
            row, _ = writer.answers(survey, unit, None if reason else exp)
            exp.rows += 1
            if survey.binding.token == "hash":
                row["token"] = f"SV{rng.randrange(1, SUPERVISORS + 1):04d}"
            if reason is not None:
                if reason == "unknown_unit":
                    row[str(survey.unit_column)] = "X9999"
                elif reason == "no_unit":
                    row[str(survey.unit_column)] = None
                else:
                    first = survey.items[0]
                    row[first.column] = first.bad
                exp.bad[reason] += 1
                _stamp(row, when, started)
                rows.append(row)
                continue
            if survey.group != "self" and rng.random() < INCOMPLETE:
                exp.incomplete += 1
                finished = rng.random() < COMPLETED_LATER
                if finished:
                    exp.completed_later += 1
                    exp.per_unit[unit] += 1
                    done = dict(row)
                    _stamp(done, when + timedelta(days=rng.randrange(1, 4)), started)
                    later[index] = done
                else:
                    _undo(exp, data, survey, row)
                # what LimeSurvey holds meanwhile: the first page answered, no submitdate
                partial = {k: (v if k in _first_page(survey) else None) for k, v in row.items()}
                _stamp(partial, None, started)
                partial["lastpage"] = 1
                rows.append(partial)
                continue
            exp.complete += 1
            exp.per_unit[unit] += 1
            _stamp(row, when, started)
            rows.append(row)
        data.rows[sid] = rows
        if later:
            data.later[sid] = later
    return data


def _first_page(survey: DemoSurvey) -> set[str]:
    cols = {"token"}
    if survey.unit_column:
        cols.add(survey.unit_column)
    cols.update(survey.private)
    return cols


def _undo(exp: Expected, data: DemoData, survey: DemoSurvey, row: Mapping[str, Any]) -> None:
    """Take back what ``answers`` counted for a response that is never completed."""
    for item in survey.items:
        value = row.get(item.column)
        if value is not None:
            exp.observations -= 1
            if value == item.dont_know:
                exp.dont_know -= 1
    for spec in survey.binding.comments:
        text = row.get(spec.column)
        if text is not None and text.strip():
            exp.comments -= 1
            data.comment_texts[text] -= 1
            if data.comment_texts[text] == 0:
                del data.comment_texts[text]
