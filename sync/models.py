"""The records database's tables (``pingyi_<name>``), one class each.

Five groups, each written by one step of the flow:

- catalogue (``pingyi catalogue load`` from ``mappings/``): System, Unit, Dimension,
  RespondentGroup, Scale, Campaign, CampaignUnit, SurveyBinding. Keyed by their codes,
  so loading is an upsert on the code and a renamed unit is updated in place.
- records (``store``, one transaction per page of ~1000 responses): Response,
  Observation, Comment, Quarantine; the sync's own state: SyncCursor, SyncPending,
  SiteState, SyncRun.
- decisions by the appraisal office: Appeal (excludes a response from scoring, with who,
  when, why; reversible), WorkAssessment (the office's own 30 % scores).
- tallies (``tallies``: the sums of the scorable observations per unit, recounted for
  every unit a change marks stale): TallyDimension, TallySample, TallyStale.
- results (``score``, rebuilt from the records any time) and the rectification ledger:
  ResultDimension, ResultGroup, ResultUnit, ResultSystem, LedgerItem, LedgerEvent.

Conventions: codes are ``VARCHAR(64)``; every datetime is aware UTC; statuses are plain
strings (the values are the ``StrEnum`` classes below) so a new status needs no
migration of a database enum type; every table has ``created_at`` and ``updated_at``
(``sync.upsert.upsert`` sets ``updated_at`` only when a row really changed), but for
Observation and Comment, a response's own rows, which carry its dates.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from sync.db import BIG_ID, Base, Code, IdKey, LongText, table_args, utcnow

__all__ = [
    "Appeal",
    "AppealStatus",
    "Base",
    "Campaign",
    "CampaignUnit",
    "Comment",
    "Dimension",
    "LedgerEvent",
    "LedgerItem",
    "LedgerStatus",
    "Observation",
    "Quarantine",
    "RespondentGroup",
    "Response",
    "ResultDimension",
    "ResultGroup",
    "ResultSystem",
    "ResultUnit",
    "RunStatus",
    "Scale",
    "SiteState",
    "SurveyBinding",
    "SyncCursor",
    "SyncPending",
    "SyncRun",
    "System",
    "TallyDimension",
    "TallySample",
    "TallyStale",
    "Unit",
    "WorkAssessment",
    "excluded_responses",
    "in_scope",
    "scorable",
]


class AppealStatus(enum.StrEnum):
    FILED = "filed"
    UPHELD = "upheld"  # the response is excluded from scoring
    REJECTED = "rejected"
    REVOKED = "revoked"  # an upheld appeal taken back: the response counts again


class LedgerStatus(enum.StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RECTIFIED = "rectified"
    VERIFIED = "verified"
    APPEALED = "appealed"
    #: the response no longer has a dissatisfied rating that counts (edited, deleted):
    #: closed by the records, never by a person (sync.ledger)
    WITHDRAWN = "withdrawn"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _fk(target: str, ondelete: str | None = None) -> sa.ForeignKey:
    return sa.ForeignKey(f"pingyi_{target}", ondelete=ondelete)


def _without_rowid(*items: Any) -> tuple[Any, ...]:
    """``table_args`` for a table keyed by its natural key, stored in that key's b-tree on
    SQLite (``WITHOUT ROWID``: one b-tree less to write per row; InnoDB clusters on the
    primary key anyway)."""
    *rest, options = table_args(*items)
    return (*rest, {**options, "sqlite_with_rowid": False})


# -- catalogue ----------------------------------------------------------------------------


class System(Timestamped, Base):
    """A system (系统) of units, e.g. education or health; ranks and quotas are per system,
    and unit results roll up to it (议下评上)."""

    __tablename__ = "pingyi_system"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    position: Mapped[int] = mapped_column(default=0)  # order in the catalogue, for reports


class Unit(Timestamped, Base):
    """A rated grassroots unit (基层单位). Its code is what a LimeSurvey answer names (at
    most 5 characters there)."""

    __tablename__ = "pingyi_unit"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    system_code: Mapped[Code] = mapped_column(_fk("system.code"), index=True)
    #: the street (街道) it serves, when the catalogue says
    street: Mapped[str | None]
    position: Mapped[int] = mapped_column(default=0)


class Dimension(Timestamped, Base):
    """What is rated (服务意识, 工作效率, ...). ``systems`` lists the systems it applies to;
    empty means common to all."""

    __tablename__ = "pingyi_dimension"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    systems: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(default=0)


class RespondentGroup(Timestamped, Base):
    """A rater group (评议主体): citizens, enterprises, supervisors, ... each with a weight
    per campaign."""

    __tablename__ = "pingyi_respondent_group"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    position: Mapped[int] = mapped_column(default=0)


class Scale(Timestamped, Base):
    """An answer scale. ``levels``: ``[{code, label, points, rank}]`` best first;
    ``excluded``: ``[{code, label}]`` answers stored but not counted (不了解)."""

    __tablename__ = "pingyi_scale"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    levels: Mapped[list[Any]]
    excluded: Mapped[list[Any]] = mapped_column(default=list)


class Campaign(Timestamped, Base):
    """One year's appraisal. The figures scoring needs in SQL are columns; the full rule
    set (group weights, grade bands, rectification days, holidays) is ``rules``, the
    catalogue's campaign as JSON."""

    __tablename__ = "pingyi_campaign"
    __table_args__ = table_args()

    code: Mapped[Code] = mapped_column(primary_key=True)
    name: Mapped[str]
    year: Mapped[int]
    scale_code: Mapped[Code] = mapped_column(_fk("scale.code"))
    min_sample: Mapped[int] = mapped_column(default=0)
    questionnaire_weight: Mapped[float] = mapped_column(default=0.7)
    work_assessment_weight: Mapped[float] = mapped_column(default=0.3)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CampaignUnit(Timestamped, Base):
    """A unit taking part in a campaign; exempt units (免评) are kept out of ranks and
    grades (not out of the ledger); a veto reason (一票否决) forces 后进."""

    __tablename__ = "pingyi_campaign_unit"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"), primary_key=True, index=True)
    exempt: Mapped[bool] = mapped_column(default=False)
    exempt_reason: Mapped[LongText | None]
    veto_reason: Mapped[LongText | None]


class SurveyBinding(Timestamped, Base):
    """How a survey's columns mean something (``sync.bindings.Binding`` as JSON in
    ``document``), as last loaded from a YAML file or the plugin's manifest."""

    __tablename__ = "pingyi_survey_binding"
    __table_args__ = table_args()

    site: Mapped[Code] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), index=True)
    group_code: Mapped[Code] = mapped_column(_fk("respondent_group.code"))
    title: Mapped[str | None]
    source: Mapped[Code]  # "yaml" | "plugin"
    #: sha256 of the canonical JSON document: a changed binding is visible at a glance
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    document: Mapped[dict[str, Any]]


# -- records ------------------------------------------------------------------------------


class Response(Timestamped, Base):
    """One completed LimeSurvey response, as mapped. Upserted on (site, survey_id,
    response_id); ``content_hash`` says whether a re-read changed it. A response whose
    id vanished from LimeSurvey is kept with ``deleted_at`` and is not scored."""

    __tablename__ = "pingyi_response"
    __table_args__ = table_args(
        sa.UniqueConstraint("site", "survey_id", "response_id"),
        sa.Index("ix_pingyi_response_campaign_unit", "campaign_code", "unit_code"),
    )

    id: Mapped[IdKey]
    site: Mapped[Code]
    survey_id: Mapped[int]
    #: LimeSurvey's response id within the survey
    response_id: Mapped[int]
    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"))
    group_code: Mapped[Code] = mapped_column(_fk("respondent_group.code"))
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"))
    submitted_at: Mapped[dt.datetime | None]
    #: LimeSurvey wrote 1980-01-01 00:00:00: completed, time not recorded
    time_unknown: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime | None]
    language: Mapped[str | None] = mapped_column(sa.String(32))
    #: sha256 hex of the mapped content; equal hash = nothing to write
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    #: keyed hash of the token, only when the binding says token: hash
    token_hash: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    deleted_at: Mapped[dt.datetime | None]


class Observation(Base):
    """One rating: one export column (``item``) of one response on one dimension.

    The response's campaign, unit and group are the response row's, reached by
    ``response_pk``; ``counted`` is false for a "don't know" answer (stored, not
    counted); ``points`` is null then.

    Keyed by (response, item), what identifies a rating, with no surrogate id: a sync
    writes about ten of these per response, and every index and every byte is paid per
    row (on SQLite the rows live in the key's own b-tree, ``WITHOUT ROWID``). For the
    same reason the row holds nothing the response holds already (migration 0006): no
    copies of its campaign, unit and group, and no ``created_at``/``updated_at`` (a
    response's ratings are written, and rewritten, only with the response row, whose
    dates they are). ``dimension_code`` has no foreign key: ``sync.map`` checks every
    dimension against the catalogue before a row is written, and the per-row check cost
    more than the rest of the insert (migration 0002)."""

    __tablename__ = "pingyi_observation"
    # No index but the key (migration 0005): a unit's observations are found through
    # its responses (``ix_pingyi_response_campaign_unit``, ten times fewer rows) and
    # then by this key; a whole campaign is read in full anyway.
    __table_args__ = _without_rowid()

    #: the response's ``id``, with no foreign key (migration 0004): ``store`` writes the
    #: rows only under keys it has just inserted or read, and responses are never deleted
    response_pk: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=False)
    #: the export column, e.g. "overall" or "detail[SQ001]"
    item: Mapped[str] = mapped_column(primary_key=True)
    dimension_code: Mapped[Code]
    #: the answer code as LimeSurvey gave it ("A1")
    raw_code: Mapped[Code]
    #: the scale level after the binding's answer_map; null for an excluded answer
    level_code: Mapped[Code | None]
    points: Mapped[float | None]
    counted: Mapped[bool]
    satisfied: Mapped[bool] = mapped_column(default=False)
    dissatisfied: Mapped[bool] = mapped_column(default=False)


class Comment(Base):
    """A free-text answer (the rater's comment), optionally about one dimension; the
    ledger quotes it next to a dissatisfied rating. Keyed by (response, item), without
    a foreign key on the dimension and without dates of its own, like Observation."""

    __tablename__ = "pingyi_comment"
    __table_args__ = _without_rowid()

    #: the response's ``id``, with no foreign key (migration 0004): ``store`` writes the
    #: rows only under keys it has just inserted or read, and responses are never deleted
    response_pk: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=False)
    item: Mapped[str] = mapped_column(primary_key=True)
    dimension_code: Mapped[Code | None]
    text: Mapped[LongText]


class Quarantine(Timestamped, Base):
    """A response that could not be mapped (unknown unit, unknown answer code, a column
    the export lacks), with a reason a person can act on. Other responses go on; a retry
    that succeeds sets ``resolved_at``."""

    __tablename__ = "pingyi_quarantine"
    __table_args__ = table_args(
        sa.UniqueConstraint("site", "survey_id", "response_id"),
        sa.Index("ix_pingyi_quarantine_open", "resolved_at", "site", "survey_id"),
    )

    id: Mapped[IdKey]
    site: Mapped[Code]
    survey_id: Mapped[int]
    response_id: Mapped[int]
    #: a stable word for grouping ("unknown_unit", "unknown_code", "missing_column", ...)
    reason_code: Mapped[Code]
    reason: Mapped[LongText]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=1)
    resolved_at: Mapped[dt.datetime | None]


class SyncCursor(Timestamped, Base):
    """Where the incremental pull of one survey stands: every id up to ``high_water`` has
    been read (complete ones stored, incomplete ones in SyncPending). Written in the same
    transaction as the page it covers."""

    __tablename__ = "pingyi_sync_cursor"
    __table_args__ = table_args()

    site: Mapped[Code] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    high_water: Mapped[int] = mapped_column(default=0)
    last_success_at: Mapped[dt.datetime | None]
    last_full_at: Mapped[dt.datetime | None]
    last_error: Mapped[LongText | None]
    last_error_kind: Mapped[Code | None]
    last_error_at: Mapped[dt.datetime | None]
    #: completed responses LimeSurvey counted beyond what the records account for at the
    #: end of the last pass, with none above the high water; negative when the records hold
    #: more (deleted in LimeSurvey, or the survey deactivated). None: the counts agreed
    shortfall: Mapped[int | None]
    #: when a pass last listed the completed ids below the high water (``sync.pull``)
    probed_at: Mapped[dt.datetime | None]
    #: seconds the submit dates, read in the site's timezone, ran from the moments their
    #: webhooks were heard (or ahead of the clock) when last measured (``sync.siteclock``);
    #: hours: the timezone is wrong. Replaced by the next reading; cleared by a pass under
    #: another configured timezone than ``clock_zone``, the one it was measured under
    clock_offset: Mapped[float | None]
    clock_read_at: Mapped[dt.datetime | None]
    clock_zone: Mapped[str | None] = mapped_column(sa.String(64))


class SyncPending(Timestamped, Base):
    """A response id seen incomplete; re-read every pass until complete or too old."""

    __tablename__ = "pingyi_sync_pending"
    __table_args__ = table_args()

    site: Mapped[Code] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    response_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SiteState(Timestamped, Base):
    """Per LimeSurvey site: a refused login stops all attempts until the site's config
    (``config_fingerprint``) changes or the back-off passes."""

    __tablename__ = "pingyi_site_state"
    __table_args__ = table_args()

    site: Mapped[Code] = mapped_column(primary_key=True)
    login_refused_at: Mapped[dt.datetime | None]
    login_refused_reason: Mapped[LongText | None]
    config_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))


class SyncRun(Timestamped, Base):
    """Audit of one sync run (a daemon pass over a survey, a webhook-triggered pass, a
    manual resync): what it read and wrote, how it ended."""

    __tablename__ = "pingyi_sync_run"
    __table_args__ = table_args(sa.Index("ix_pingyi_sync_run_survey", "site", "survey_id"))

    id: Mapped[IdKey]
    #: "poll" | "webhook" | "resync" | "full"
    kind: Mapped[Code]
    site: Mapped[Code | None]
    survey_id: Mapped[int | None]
    #: who ran it ("host:pid"), since several daemons may share one database
    worker: Mapped[str | None]
    dry_run: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[Code] = mapped_column(default=RunStatus.RUNNING.value)
    fetched: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    pending: Mapped[int] = mapped_column(default=0)
    rc2_calls: Mapped[int] = mapped_column(default=0)
    error: Mapped[LongText | None]
    error_kind: Mapped[Code | None]


# -- decisions ----------------------------------------------------------------------------


class Appeal(Timestamped, Base):
    """An appeal (申诉复核) against one response. While ``status`` is ``upheld`` the
    response is excluded from scoring (``scorable``); the record keeps who filed, decided
    and revoked it, when and why, so the exclusion is auditable and reversible."""

    __tablename__ = "pingyi_appeal"
    __table_args__ = table_args(sa.Index("ix_pingyi_appeal_response", "response_pk", "status"))

    id: Mapped[IdKey]
    response_pk: Mapped[int] = mapped_column(BIG_ID, _fk("response.id"))
    ledger_item_id: Mapped[int | None] = mapped_column(
        BIG_ID,
        _fk("ledger_item.id", ondelete="SET NULL"),
    )
    status: Mapped[Code] = mapped_column(default=AppealStatus.FILED.value)
    reason: Mapped[LongText]
    filed_by: Mapped[str]
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None]
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[LongText | None]
    revoked_by: Mapped[str | None]
    revoked_at: Mapped[dt.datetime | None]
    revoke_reason: Mapped[LongText | None]


class WorkAssessment(Timestamped, Base):
    """The appraisal office's own score for a unit (inspections, visits): the work
    assessment part (default 30 %) of the composite."""

    __tablename__ = "pingyi_work_assessment"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"), primary_key=True)
    score: Mapped[float]
    note: Mapped[LongText | None]
    entered_by: Mapped[str | None]


# -- tallies (kept by ``tallies``: the sums the results are composed from) ----------------


class TallyDimension(Timestamped, Base):
    """Per campaign, unit, group and dimension: the sums of the scorable observations,
    what the scoring GROUP BY returns. Recounted from the observations for every unit
    marked in TallyStale (``sync.tallies``), so the results need not read the
    observations again; ``pingyi results rebuild --recount`` recounts every unit."""

    __tablename__ = "pingyi_tally_dimension"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(primary_key=True)
    unit_code: Mapped[Code] = mapped_column(primary_key=True)
    group_code: Mapped[Code] = mapped_column(primary_key=True)
    dimension_code: Mapped[Code] = mapped_column(primary_key=True)
    answers: Mapped[int]  # including "don't know"
    counted: Mapped[int]
    #: the exact sum of the counted answers' points, as a fraction ("1735/2"): no float
    #: or backend decimal type rounds it
    points_sum: Mapped[str] = mapped_column(sa.String(96))
    satisfied: Mapped[int]
    dissatisfied: Mapped[int]


class TallySample(Timestamped, Base):
    """Per campaign, unit and group: the live, unappealed responses with at least one
    counted answer (the sample the campaign's minimum is checked against)."""

    __tablename__ = "pingyi_tally_sample"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(primary_key=True)
    unit_code: Mapped[Code] = mapped_column(primary_key=True)
    group_code: Mapped[Code] = mapped_column(primary_key=True)
    responses: Mapped[int]


class TallyStale(Timestamped, Base):
    """A unit whose tallies must be recounted: written in the same transaction as every
    change to its responses, observations or appeals (``tallies.mark_stale``), removed
    by the recount."""

    __tablename__ = "pingyi_tally_stale"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(primary_key=True)
    unit_code: Mapped[Code] = mapped_column(primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- results (rebuilt by ``score``) --------------------------------------------------------


class ResultDimension(Timestamped, Base):
    """Per campaign, unit, group and dimension: counts, mean points and the satisfaction
    rate with its Wilson 95 % interval."""

    __tablename__ = "pingyi_result_dimension"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"), primary_key=True)
    group_code: Mapped[Code] = mapped_column(_fk("respondent_group.code"), primary_key=True)
    dimension_code: Mapped[Code] = mapped_column(_fk("dimension.code"), primary_key=True)
    answers: Mapped[int] = mapped_column(default=0)  # including "don't know"
    counted: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    dissatisfied: Mapped[int] = mapped_column(default=0)
    mean_points: Mapped[float | None]
    satisfaction_rate: Mapped[float | None]
    rate_low: Mapped[float | None]
    rate_high: Mapped[float | None]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResultGroup(Timestamped, Base):
    """Per campaign, unit and respondent group: the dimension-weighted score, or
    ``insufficient`` when the group has fewer responses than the campaign's minimum."""

    __tablename__ = "pingyi_result_group"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"), primary_key=True)
    group_code: Mapped[Code] = mapped_column(_fk("respondent_group.code"), primary_key=True)
    responses: Mapped[int] = mapped_column(default=0)
    insufficient: Mapped[bool] = mapped_column(default=False)
    score: Mapped[float | None]
    satisfaction_rate: Mapped[float | None]
    rate_low: Mapped[float | None]
    rate_high: Mapped[float | None]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResultUnit(Timestamped, Base):
    """Per campaign and unit: questionnaire, work and composite scores, ranks within
    system and district, and the grade (先进 / 达标 / 后进) with its reason."""

    __tablename__ = "pingyi_result_unit"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"), primary_key=True)
    system_code: Mapped[Code] = mapped_column(_fk("system.code"))
    responses: Mapped[int] = mapped_column(default=0)
    questionnaire_score: Mapped[float | None]
    work_score: Mapped[float | None]
    composite: Mapped[float | None]
    satisfaction_rate: Mapped[float | None]
    #: some groups were missing or insufficient and weights were renormalised
    renormalised: Mapped[bool] = mapped_column(default=False)
    groups_present: Mapped[list[Any]] = mapped_column(default=list)
    rank_in_system: Mapped[int | None]
    rank_in_district: Mapped[int | None]
    #: "advanced" | "passing" | "lagging" | null (exempt or not scored)
    grade: Mapped[Code | None]
    grade_reason: Mapped[LongText | None]
    exempt: Mapped[bool] = mapped_column(default=False)
    vetoed: Mapped[bool] = mapped_column(default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResultSystem(Timestamped, Base):
    """Per campaign and system: the roll-up of its units (议下评上) and its rank."""

    __tablename__ = "pingyi_result_system"
    __table_args__ = table_args()

    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"), primary_key=True)
    system_code: Mapped[Code] = mapped_column(_fk("system.code"), primary_key=True)
    units_scored: Mapped[int] = mapped_column(default=0)
    score: Mapped[float | None]
    satisfaction_rate: Mapped[float | None]
    rank: Mapped[int | None]
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- rectification ledger -----------------------------------------------------------------


class LedgerItem(Timestamped, Base):
    """A rectification item (整改): from a dissatisfied rating or a dimension below the
    threshold, or entered by hand. ``source_key`` identifies what raised it (e.g.
    "obs:<site>:<survey>:<response>:<item>"), so rebuilding the ledger never duplicates
    an item. The status history is in LedgerEvent."""

    __tablename__ = "pingyi_ledger_item"
    __table_args__ = table_args(
        sa.Index("ix_pingyi_ledger_item_unit", "campaign_code", "unit_code"),
        sa.Index("ix_pingyi_ledger_item_overdue", "status", "deadline"),
    )

    id: Mapped[IdKey]
    source_key: Mapped[str] = mapped_column(unique=True)
    #: "rating" | "dimension" | "manual"
    source: Mapped[Code]
    campaign_code: Mapped[Code] = mapped_column(_fk("campaign.code"))
    unit_code: Mapped[Code] = mapped_column(_fk("unit.code"))
    dimension_code: Mapped[Code | None] = mapped_column(_fk("dimension.code"))
    response_pk: Mapped[int | None] = mapped_column(
        BIG_ID,
        _fk("response.id", ondelete="SET NULL"),
    )
    content: Mapped[LongText]
    comment: Mapped[LongText | None]
    responsible: Mapped[str | None]
    deadline: Mapped[dt.date | None]
    status: Mapped[Code] = mapped_column(default=LedgerStatus.OPEN.value)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


class LedgerEvent(Timestamped, Base):
    """One step in a ledger item's history: a status change, a note, a new deadline."""

    __tablename__ = "pingyi_ledger_event"
    __table_args__ = table_args(sa.Index("ix_pingyi_ledger_event_item", "item_id", "at"))

    id: Mapped[IdKey]
    item_id: Mapped[int] = mapped_column(
        BIG_ID,
        _fk("ledger_item.id", ondelete="CASCADE"),
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_from: Mapped[Code | None]
    status_to: Mapped[Code | None]
    actor: Mapped[str]
    note: Mapped[LongText | None]


def excluded_responses() -> sa.CompoundSelect[tuple[int]]:
    """The ids of the responses that do not count: deleted (their id vanished from
    LimeSurvey) or excluded by an upheld appeal. A small set (a few per cent of the
    responses at most), which is why scoring tests against it rather than joining every
    observation to its response."""
    deleted = sa.select(Response.id).where(Response.deleted_at.is_not(None))
    upheld = sa.select(Appeal.response_pk).where(Appeal.status == AppealStatus.UPHELD.value)
    return sa.union_all(deleted, upheld)


def in_scope(response: InstrumentedAttribute[int] | None = None) -> sa.ColumnElement[bool]:
    """An Observation's response is live and not excluded by an upheld appeal: ``scorable``
    without the ``counted`` test ("don't know" answers are answers too).

    ``response``: the response id to test, ``Observation.response_pk`` unless the query
    joins the response and should test ``Response.id`` (the same value): a query that
    finds its responses first, by unit, then leaves the planner nothing to check on the
    observation side but its key."""
    # NOT IN is safe here: both ids of the set are NOT NULL columns. PostgreSQL and SQLite
    # build the small set once and look each observation up in it; the correlated EXISTS
    # this replaces made PostgreSQL hash-join every observation to its response.
    key = Observation.response_pk if response is None else response
    return key.not_in(excluded_responses())


def scorable(response: InstrumentedAttribute[int] | None = None) -> sa.ColumnElement[bool]:
    """The condition for an Observation to enter the scores: counted, its response not
    deleted and not excluded by an upheld appeal. Use it in every scoring query
    (``response`` as for ``in_scope``)."""
    return sa.and_(Observation.counted.is_(True), in_scope(response))
