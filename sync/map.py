"""Map one exported LimeSurvey row through its binding and the catalogue.

``map_row`` is pure: no I/O, no clock, no randomness. The same row, binding and
catalogue always give the same ``Mapped`` (with the same ``content_hash``) or the same
``Rejected``, which is what makes a replayed window a no-op and an edit detectable.

Choices recorded here because scores depend on them:

- An unanswered rating item (``null`` or ``""`` in the export) is **no observation at
  all**: there is no raw code to keep, and counting it anywhere would be a guess.
- A scale's excluded code (不了解, "don't know") **is** an observation with
  ``counted=False``, no points, neither satisfied nor dissatisfied: it is stored (the
  office sees how many did not know) but never enters a mean or a rate.
- Comments keep the exact text, byte for byte (4-byte characters and emoji included);
  an empty or whitespace-only answer is no comment.
- Only the columns a binding names are read. IP, referrer, e-mail, the token and the
  binding's private columns are never copied; a token is kept only as an HMAC-SHA256
  under the site's key when the binding asks for ``token: hash``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sync.bindings import FixedUnit, RatingArray
from sync.errors import ConfigError

if TYPE_CHECKING:
    from sync.bindings import Binding
    from sync.catalogue import Campaign, Catalogue, Level, Scale
    from sync.limesurvey import ExportRow

#: the reason codes a quarantined response can carry (``pingyi quarantine list`` groups by them)
REASON_CODES = (
    "missing_column",
    "no_unit",
    "unknown_unit",
    "unit_outside_campaign",
    "unknown_answer",
    "unknown_scale",
    # set by ``pull`` for a row ``limesurvey.parse_rows`` could not read
    "unreadable_row",
)


class ResponseRecord(NamedTuple):
    site: str
    survey_id: int
    response_id: int
    campaign: str
    group: str
    unit: str
    submitted_at: datetime | None
    time_unknown: bool
    started_at: datetime | None
    language: str | None
    token_hash: str | None


@dataclass(frozen=True)
class ObservationRecord:
    item: str  # the export column, e.g. "detail[SQ001]"
    dimension: str
    raw_code: str
    level: str | None  # the scale level code after answer_map; None for an excluded code
    points: float | None
    counted: bool
    satisfied: bool
    dissatisfied: bool


class CommentRecord(NamedTuple):
    item: str
    dimension: str | None
    text: str


class Mapped(NamedTuple):
    response: ResponseRecord
    observations: list[ObservationRecord]
    comments: list[CommentRecord]
    content_hash: str


@dataclass(frozen=True)
class Rejected:
    reason_code: str
    reason: str  # one sentence a person can act on
    detail: dict[str, Any] = field(default_factory=dict)


def token_hash(token: str, key: bytes) -> str:
    """The keyed hash kept instead of a token (duplicate detection without the token)."""
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()


def _answer(value: str | None) -> str | None:
    """LimeSurvey writes "no answer" as null (API) or "" (web runtime)."""
    if value is None or value == "":
        return None
    return value


def _binding_where(binding: Binding) -> str:
    where = binding.where
    if where.file:
        return f"{where.file}:{where.line}" if where.line else str(where.file)
    return f"the Pingyi settings of survey {binding.survey_id} in LimeSurvey (plugin binding)"


def _rating_where(binding: Binding, column: str) -> str:
    """file:line of the rating entry that names ``column`` (where an answer_map or a scale
    would go), else the binding's own place."""
    if binding.where.file:
        for i, rating in enumerate(binding.ratings):
            named = (
                column.startswith(f"{rating.question}[")
                if isinstance(rating, RatingArray)
                else rating.column == column
            )
            if named:
                return f"{binding.where.file}:{binding.line_at('ratings', i)}"
    return _binding_where(binding)


def _catalogue_file(catalogue: Catalogue) -> str:
    for located in (catalogue, *catalogue.units.values()):
        if located.where.file:
            return str(located.where.file)
    return "mappings/catalogue.yaml"


def _where_row(binding: Binding, row: ExportRow, column: str) -> str:
    return f"column {column} of survey {binding.survey_id} response {row.response_id}"


def _detail(binding: Binding, row: ExportRow, **extra: Any) -> dict[str, Any]:
    return {
        "site": binding.site,
        "survey_id": binding.survey_id,
        "response_id": row.response_id,
        "binding": _binding_where(binding),
        **extra,
    }


def _resolve_unit(
    row: ExportRow, binding: Binding, catalogue: Catalogue, campaign: Campaign
) -> str | Rejected:
    spec = binding.unit
    column: str | None = None
    if isinstance(spec, FixedUnit):
        code = raw = spec.unit
    else:
        column = spec.column
        if column not in row.answers:
            return _missing(row, binding, column)
        answer = _answer(row.answers[column])
        if answer is None:
            return Rejected(
                "no_unit",
                f"{_where_row(binding, row, column)} is unanswered, so the rated unit is "
                f"unknown; make the unit question mandatory in LimeSurvey, or fix the "
                f"response and run `pingyi quarantine retry`",
                _detail(binding, row, column=column),
            )
        raw = answer
        code = spec.code_map.get(raw, raw)
    if code not in catalogue.units:
        shown = column or "unit.unit"
        return Rejected(
            "unknown_unit",
            f"unit code {raw!r} in {_where_row(binding, row, shown)} is not in "
            f"{_catalogue_file(catalogue)}; add it or map it with unit.code_map in "
            f"{_binding_where(binding)}",
            _detail(binding, row, column=column, code=raw, mapped_to=code),
        )
    unit = catalogue.units[code]
    if not campaign.takes_part(unit.system):
        return Rejected(
            "unit_outside_campaign",
            f"unit {code} ({unit.name}, system {unit.system}) from "
            f"{_where_row(binding, row, column or 'unit.unit')} is not in campaign "
            f"{campaign.code}'s systems ({', '.join(campaign.systems)}); add the system to "
            f"the campaign or bind the survey to the right campaign in "
            f"{_binding_where(binding)}",
            _detail(binding, row, column=column, code=code, system=unit.system),
        )
    return code


def _missing(row: ExportRow, binding: Binding, column: str) -> Rejected:
    return Rejected(
        "missing_column",
        f"survey {binding.survey_id} response {row.response_id} has no column {column!r} "
        f"that {_binding_where(binding)} names; fix the column name in the binding (export "
        f"headings are question codes, array cells code[SQCODE])",
        _detail(binding, row, column=column),
    )


def _scale_levels(scale: Scale) -> tuple[dict[str, Level], set[str]]:
    return {lv.code: lv for lv in scale.levels}, {ex.code for ex in scale.excluded}


@dataclass(frozen=True)
class _ItemPlan:
    column: str
    dimension: str
    scale: Scale | None
    scale_code: str
    #: raw answer code -> its observation (frozen, so shared by every row with that code)
    #: and that observation's part of the content hash (formatted once, not once per row)
    outcomes: dict[str, tuple[ObservationRecord, str]]


def _item_plans(binding: Binding, catalogue: Catalogue) -> list[_ItemPlan]:
    campaign = catalogue.campaigns[binding.campaign]
    plans: list[_ItemPlan] = []
    for item in binding.rating_items():
        scale_code = item.scale or campaign.scale
        scale = catalogue.scales.get(scale_code)
        outcomes: dict[str, tuple[ObservationRecord, str]] = {}
        if scale is not None:
            levels, excluded = _scale_levels(scale)
            satisfied, dissatisfied = campaign.satisfied(scale), campaign.dissatisfied(scale)
            raws = {*levels, *excluded, *item.answer_map}
            for raw in raws:
                code = item.answer_map.get(raw, raw)
                if code in excluded:
                    record = ObservationRecord(
                        item.column, item.dimension, raw, None, None, False, False, False
                    )
                elif code in levels:
                    level = levels[code]
                    record = ObservationRecord(
                        item=item.column,
                        dimension=item.dimension,
                        raw_code=raw,
                        level=level.code,
                        points=float(level.points),
                        counted=True,
                        satisfied=level.code in satisfied,
                        dissatisfied=level.code in dissatisfied,
                    )
                else:
                    continue
                outcomes[raw] = (record, _observation_part(record))
        plans.append(_ItemPlan(item.column, item.dimension, scale, scale_code, outcomes))
    return plans


#: memo of item plans per (binding, catalogue) object: a pure function of both, computed
#: once per pass instead of once per row
_PLANS: dict[tuple[int, int], tuple[Binding, Catalogue, list[_ItemPlan]]] = {}


def _plans_for(binding: Binding, catalogue: Catalogue) -> list[_ItemPlan]:
    key = (id(binding), id(catalogue))
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is binding and hit[1] is catalogue:
        return hit[2]
    if len(_PLANS) > 64:
        _PLANS.clear()
    plans = _item_plans(binding, catalogue)
    _PLANS[key] = (binding, catalogue, plans)
    return plans


def map_row(
    row: ExportRow, binding: Binding, catalogue: Catalogue, *, token_key: bytes | None
) -> Mapped | Rejected:
    """One exported row -> what the records keep, or why it cannot be kept (quarantine)."""
    campaign = catalogue.campaigns[binding.campaign]
    unit = _resolve_unit(row, binding, catalogue, campaign)
    if isinstance(unit, Rejected):
        return unit

    observations: list[ObservationRecord] = []
    parts: list[str] = []
    answers = row.answers
    for item in _plans_for(binding, catalogue):
        if item.column not in answers:
            return _missing(row, binding, item.column)
        raw = answers[item.column]
        if raw is None or raw == "":
            continue
        found = item.outcomes.get(raw)
        if found is not None:
            observations.append(found[0])
            parts.append(found[1])
            continue
        if item.scale is None:
            return Rejected(
                "unknown_scale",
                f"scale {item.scale_code!r} for {_where_row(binding, row, item.column)} is not "
                f"in {_catalogue_file(catalogue)}; fix the scale in "
                f"{_rating_where(binding, item.column)}",
                _detail(binding, row, column=item.column, scale=item.scale_code),
            )
        known = ", ".join(sorted(item.outcomes))
        return Rejected(
            "unknown_answer",
            f"answer code {raw!r} in {_where_row(binding, row, item.column)} is not a "
            f"level of scale {item.scale.code} ({known}); map it with answer_map in "
            f"{_rating_where(binding, item.column)}",
            _detail(binding, row, column=item.column, code=raw, scale=item.scale.code),
        )

    comments: list[CommentRecord] = []
    for spec in binding.comments:
        if spec.column not in row.answers:
            return _missing(row, binding, spec.column)
        text = row.answers[spec.column]
        if text is None or not text.strip():
            continue
        comments.append(CommentRecord(spec.column, spec.dimension, text))

    hashed: str | None = None
    if binding.token == "hash" and row.token:
        if token_key is None:
            raise ConfigError(
                f"{_binding_where(binding)} asks for token: hash but no token-hash key is "
                f"configured (daemon.token_hash_key_env or _file in pingyi.toml)"
            )
        hashed = token_hash(row.token, token_key)

    response = ResponseRecord(
        site=binding.site,
        survey_id=binding.survey_id,
        response_id=row.response_id,
        campaign=binding.campaign,
        group=binding.group,
        unit=unit,
        submitted_at=row.submitted_at,
        time_unknown=row.time_unknown,
        started_at=row.started_at,
        language=row.language,
        token_hash=hashed,
    )
    return Mapped(response, observations, comments, _digest(response, parts, comments))


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "-"


def _observation_part(o: ObservationRecord) -> str:
    return (
        f"{o.item}\x1f{o.dimension}\x1f{o.raw_code}\x1f{o.level}\x1f{o.points!r}\x1f"
        f"{o.counted:d}{o.satisfied:d}{o.dissatisfied:d}"
    )


def content_hash(
    response: ResponseRecord,
    observations: list[ObservationRecord],
    comments: list[CommentRecord],
) -> str:
    """SHA-256 over everything the records keep for a response, in a fixed order.

    Stable across runs and processes (fixed field order, items sorted, UTC ISO times),
    so equal content means equal hash. Fields are joined with control characters that
    cannot occur in a code and are escaped in text (``repr``), so two different contents
    never join to the same string."""
    return _digest(response, [_observation_part(o) for o in observations], comments)


def _digest(
    response: ResponseRecord, observation_parts: list[str], comments: list[CommentRecord]
) -> str:
    """``content_hash`` from the observations' parts, which ``map_row`` takes from the item
    plans ready-made (this runs once per response on the hot path)."""
    r = response
    parts = [
        f"{r.site}\x1f{r.survey_id}\x1f{r.response_id}\x1f{r.campaign}\x1f{r.group}\x1f{r.unit}",
        f"{_iso(r.submitted_at)}\x1f{r.time_unknown}\x1f{_iso(r.started_at)}\x1f"
        f"{r.language!r}\x1f{r.token_hash}",
    ]
    parts.extend(sorted(observation_parts))
    parts.append("\x1d")
    parts.extend(sorted(f"{c.item}\x1f{c.dimension}\x1f{c.text!r}" for c in comments))
    return hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
