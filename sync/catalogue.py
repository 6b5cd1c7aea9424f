"""The district's master data, read from ``mappings/``.

- ``mappings/catalogue.yaml``: scales, respondent groups, systems with their units,
  dimensions (one file: the things every campaign and survey refers to by code);
- ``mappings/campaigns/<code>.yaml``: one campaign a year (weights, grades, deadlines);
- ``mappings/surveys/<name>.yaml``: one binding per survey (see ``sync.bindings``).

``load_catalogue`` is strict: it raises ``InputError`` (file:line, what to do) on the first
problem of severity error, shape or cross-reference. ``sync.validate.validate`` reports
them all. Every object remembers ``where`` it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError

from sync.bindings import AnswerCode, Binding, Code
from sync.errors import InputError, Location
from sync.yamlsource import LineDict, Located, input_errors, line_of, load_yaml

CATALOGUE_FILE = "catalogue.yaml"
CAMPAIGNS_DIR = "campaigns"
SURVEYS_DIR = "surveys"

Weight = Annotated[float, Field(ge=0, le=1)]
Name = Annotated[str, Field(min_length=1)]


class Level(Located):
    """One answer of a scale: a LimeSurvey answer code and what it is worth."""

    code: AnswerCode
    label: Name
    points: float
    #: 5 best .. 1 worst on a five-level scale; orders levels whatever their codes
    rank: int


class ExcludedCode(Located):
    """An answer that is stored but not counted (不了解, "don't know")."""

    code: AnswerCode
    label: Name


class Scale(Located):
    code: Code
    name: Name
    levels: Annotated[tuple[Level, ...], Field(min_length=2)]
    excluded: tuple[ExcludedCode, ...] = ()

    def level(self, code: str) -> Level | None:
        return next((lv for lv in self.levels if lv.code == code), None)

    def codes(self) -> set[str]:
        """Every answer code the scale knows, counted or not."""
        return {lv.code for lv in self.levels} | {ex.code for ex in self.excluded}

    def by_rank(self) -> list[Level]:
        """Best first."""
        return sorted(self.levels, key=lambda lv: lv.rank, reverse=True)


class Dimension(Located):
    code: Code
    name: Name
    #: systems whose units are rated on it; empty = common to all
    systems: tuple[Code, ...] = ()

    def applies_to(self, system: str) -> bool:
        return not self.systems or system in self.systems


class RespondentGroup(Located):
    code: Code
    name: Name


class System(Located):
    code: Code
    name: Name


class Unit(Located):
    code: AnswerCode
    name: Name
    system: Code
    #: street or address, informational
    street: str | None = None


class GroupRule(Located):
    weight: Weight
    #: None = the campaign's min_sample
    min_sample: Annotated[int, Field(ge=1)] | None = None
    dimension_weights: dict[Code, Weight] = Field(default_factory=dict)


class GradeRules(Located):
    """先进 / 达标 / 后进 within a system."""

    #: composite score needed for 先进 (advanced)
    advanced_min: float = 75.0
    #: composite score needed for 达标 (passing); below it: 后进 (lagging)
    passing_min: float = 60.0
    #: at most this share of a system's graded units may be 先进
    advanced_quota: Weight = 0.3
    #: how units tied on score are ordered at the quota boundary
    tie: Literal["share", "satisfaction_rate_then_count"] = "satisfaction_rate_then_count"


class RectificationRules(Located):
    deadline_working_days: Annotated[int, Field(ge=1)] = 15
    #: public holidays (no work) in the campaign's period
    holidays: tuple[date, ...] = ()
    #: weekend days worked instead (调休)
    extra_workdays: tuple[date, ...] = ()
    #: a dimension of a unit whose satisfaction rate falls below this becomes a ledger item
    satisfaction_threshold: Weight = 0.8


class UnitNote(Located):
    unit: AnswerCode
    reason: Name


class Campaign(Located):
    code: Code
    name: Name
    year: Annotated[int, Field(ge=2000, le=2100)]
    scale: Code
    groups: dict[Code, GroupRule]
    #: level codes counted as satisfied; empty = the scale's top three
    satisfied_levels: tuple[AnswerCode, ...] = ()
    #: level codes counted as dissatisfied (差评); empty = the scale's bottom two
    dissatisfied_levels: tuple[AnswerCode, ...] = ()
    min_sample: Annotated[int, Field(ge=1)] = 30
    questionnaire_weight: Weight = 0.7
    work_assessment_weight: Weight = 0.3
    grades: GradeRules = Field(default_factory=GradeRules)
    rectification: RectificationRules = Field(default_factory=RectificationRules)
    exempt: tuple[UnitNote, ...] = ()
    veto: tuple[UnitNote, ...] = ()
    #: systems taking part; empty = all
    systems: tuple[Code, ...] = ()

    def satisfied(self, scale: Scale) -> tuple[str, ...]:
        if self.satisfied_levels:
            return self.satisfied_levels
        return tuple(lv.code for lv in scale.by_rank()[:3])

    def dissatisfied(self, scale: Scale) -> tuple[str, ...]:
        if self.dissatisfied_levels:
            return self.dissatisfied_levels
        return tuple(lv.code for lv in scale.by_rank()[-2:])

    def group_min_sample(self, group: str) -> int:
        rule = self.groups.get(group)
        return rule.min_sample if rule and rule.min_sample is not None else self.min_sample

    def takes_part(self, system: str) -> bool:
        return not self.systems or system in self.systems

    def exempt_units(self) -> dict[str, str]:
        return {note.unit: note.reason for note in self.exempt}

    def vetoed_units(self) -> dict[str, str]:
        return {note.unit: note.reason for note in self.veto}


class Catalogue(Located):
    """Everything in ``mappings/``, keyed by code (bindings by (site, survey_id))."""

    name: str = ""
    systems: dict[str, System]
    units: dict[str, Unit]
    dimensions: dict[str, Dimension]
    groups: dict[str, RespondentGroup]
    scales: dict[str, Scale]
    campaigns: dict[str, Campaign] = Field(default_factory=dict)
    bindings: dict[tuple[str, int], Binding] = Field(default_factory=dict)

    def units_of(self, system: str) -> list[Unit]:
        return [u for u in self.units.values() if u.system == system]

    def campaign_units(self, campaign: str) -> list[Unit]:
        """Units of the systems taking part in the campaign (exempt ones included)."""
        camp = self.campaigns[campaign]
        return [u for u in self.units.values() if camp.takes_part(u.system)]

    def scale_of(self, binding: Binding, scale: str | None) -> Scale | None:
        """The scale a rating uses: its own, else its campaign's."""
        if scale is None:
            camp = self.campaigns.get(binding.campaign)
            scale = camp.scale if camp else None
        return self.scales.get(scale) if scale else None


def public_json(catalogue: Catalogue) -> dict[str, Any]:
    """What the daemon serves as ``/catalogue.json`` for the plugin's pick lists.

    Lists keep the file's order (the order designers expect); codes and names only, no
    rules: the plugin needs to offer choices, not to score.
    """
    return {
        "name": catalogue.name,
        "systems": [{"code": s.code, "name": s.name} for s in catalogue.systems.values()],
        "units": [
            {"code": u.code, "name": u.name, "system": u.system} for u in catalogue.units.values()
        ],
        "dimensions": [
            {"code": d.code, "name": d.name, "systems": list(d.systems)}
            for d in catalogue.dimensions.values()
        ],
        "groups": [{"code": g.code, "name": g.name} for g in catalogue.groups.values()],
        "scales": [
            {
                "code": s.code,
                "name": s.name,
                "levels": [
                    {"code": lv.code, "label": lv.label, "points": lv.points, "rank": lv.rank}
                    for lv in s.levels
                ],
                "excluded": [{"code": ex.code, "label": ex.label} for ex in s.excluded],
            }
            for s in catalogue.scales.values()
        ],
        "campaigns": [
            {
                "code": c.code,
                "name": c.name,
                "year": c.year,
                "scale": c.scale,
                "groups": list(c.groups),
                "systems": list(c.systems),
            }
            for c in catalogue.campaigns.values()
        ],
    }


# --------------------------------------------------------------------------- loading

M = TypeVar("M", bound=Located)


@dataclass
class Loaded:
    """What was read, with every shape problem found on the way (nothing raised)."""

    catalogue: Catalogue
    root: Path
    errors: list[InputError] = field(default_factory=list)

    @property
    def catalogue_file(self) -> str:
        return str(self.root / CATALOGUE_FILE)


def _validate(
    model: type[M], data: Any, file: str, prefix: tuple[Any, ...], errors: list[InputError]
) -> M | None:
    try:
        obj = model.model_validate(data, context={"file": file})
    except ValidationError as exc:
        errors.extend(input_errors(exc, data, file, prefix))
        return None
    obj._path = prefix
    return obj


def _keyed(parent: LineDict, key: Any, value: Any, **extra: Any) -> Any:
    """``code: {name: ..}`` or ``code: name`` -> a LineDict with ``code`` (and ``extra``)
    filled in, carrying the line of ``code:`` so errors point at it."""
    line = parent.lines.get(key, parent.line)
    out = LineDict()
    if isinstance(value, LineDict):
        out.update(value)
        out.lines = dict(value.lines)
    elif isinstance(value, str):
        out["name"] = value
        out.lines["name"] = line
    elif value is not None:
        return value  # let validation say it is neither text nor a mapping
    out.line = line
    for k, v in (("code", key), *extra.items()):
        out[k] = v
        out.lines[k] = line
    return out


def _section(
    doc: LineDict, name: str, file: str, errors: list[InputError], required: bool = True
) -> Iterator[tuple[Any, Any]]:
    value = doc.get(name)
    if value is None:
        if required:
            errors.append(
                InputError(
                    Location(file=file, line=doc.line or 1, key=name),
                    f"missing section {name!r}",
                    f"add '{name}:' with at least one entry",
                )
            )
        return
    if not isinstance(value, LineDict):
        errors.append(
            InputError(
                Location(file=file, line=line_of(doc, (name,)), key=name),
                f"{name!r} must be a mapping of code: entry",
                "write one 'code: ...' per line under it",
            )
        )
        return
    yield from ((k, value) for k in value)


def _read_catalogue_file(path: Path, errors: list[InputError]) -> dict[str, Any]:
    file = str(path)
    out: dict[str, Any] = {
        "name": "",
        "systems": {},
        "units": {},
        "dimensions": {},
        "groups": {},
        "scales": {},
    }
    try:
        doc = load_yaml(path)
    except InputError as exc:
        errors.append(exc)
        return out
    if not isinstance(doc, LineDict):
        errors.append(
            InputError(Location(file=file, line=1), "the catalogue must be a YAML mapping")
        )
        return out
    known = {"version", "district", "scales", "groups", "systems", "dimensions"}
    for key in doc:
        if key not in known:
            errors.append(
                InputError(
                    Location(file=file, line=doc.lines[key], key=str(key)),
                    "unknown key",
                    f"known: {', '.join(sorted(known))}",
                )
            )
    district = doc.get("district")
    if isinstance(district, LineDict):
        out["name"] = str(district.get("name", ""))

    simple: list[tuple[str, type[Located]]] = [
        ("scales", Scale),
        ("groups", RespondentGroup),
        ("dimensions", Dimension),
    ]
    for section, model in simple:
        for code, parent in _section(doc, section, file, errors):
            data = _keyed(parent, code, parent[code])
            obj = _validate(model, data, file, (section, code), errors)
            if obj is not None:
                out[section][obj.code] = obj  # type: ignore[attr-defined]

    first_unit: dict[str, int] = {}
    for code, parent in _section(doc, "systems", file, errors):
        entry = parent[code]
        units = entry.pop("units", None) if isinstance(entry, LineDict) else None
        system = _validate(System, _keyed(parent, code, entry), file, ("systems", code), errors)
        if system is None:
            continue
        out["systems"][system.code] = system
        if units is None:
            continue
        if not isinstance(units, LineDict):
            errors.append(
                InputError(
                    Location(file=file, line=getattr(units, "line", None) or system.where.line),
                    f"units of system {system.code!r} must be a mapping unit code: name",
                    "write one 'E0101: 某某小学' per line",
                )
            )
            continue
        for ucode in units:
            data = _keyed(units, ucode, units[ucode], system=system.code)
            unit = _validate(Unit, data, file, ("systems", code, "units", ucode), errors)
            if unit is None:
                continue
            if unit.code in out["units"]:
                errors.append(
                    InputError(
                        Location(file=file, line=unit.where.line, key=f"systems.{code}.units"),
                        f"duplicate unit code {unit.code!r} (already in system "
                        f"{out['units'][unit.code].system!r} on line {first_unit[unit.code]})",
                        "unit codes are unique in the whole district: give one a new code",
                    )
                )
                continue
            first_unit[unit.code] = unit.where.line or 0
            out["units"][unit.code] = unit
    return out


def _documents(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def _read_documents(
    folder: Path,
    model: type[M],
    key: Callable[[M], Any],
    what: str,
    errors: list[InputError],
) -> dict[Any, M]:
    """One model per file; a second file with the same key is an error at its line."""
    out: dict[Any, M] = {}
    for path in _documents(folder):
        file = str(path)
        try:
            doc = load_yaml(path)
        except InputError as exc:
            errors.append(exc)
            continue
        if not isinstance(doc, LineDict):
            errors.append(
                InputError(Location(file=file, line=1), f"a {what} file must be a YAML mapping")
            )
            continue
        obj = _validate(model, doc, file, (), errors)
        if obj is None:
            continue
        k = key(obj)
        if k in out:
            errors.append(
                InputError(
                    Location(file=file, line=obj.where.line, key=what),
                    f"{what} {k!r} is defined twice (also in {out[k].where})",
                    "keep one file per " + what,
                )
            )
            continue
        out[k] = obj
    return out


def load(mappings_dir: Path) -> Loaded:
    """Read everything; collect shape problems instead of raising (see ``validate``)."""
    errors: list[InputError] = []
    root = Path(mappings_dir)
    cat_path = root / CATALOGUE_FILE
    if cat_path.is_file():
        parts = _read_catalogue_file(cat_path, errors)
    else:
        errors.append(
            InputError(
                Location(file=str(cat_path)),
                "catalogue file not found",
                f"create {cat_path} (systems, units, dimensions, groups, scales) or give the "
                "right mappings folder",
            )
        )
        parts = {"systems": {}, "units": {}, "dimensions": {}, "groups": {}, "scales": {}}
    campaigns = _read_documents(
        root / CAMPAIGNS_DIR, Campaign, lambda c: c.code, "campaign", errors
    )
    bindings = _read_documents(root / SURVEYS_DIR, Binding, lambda b: b.key, "binding", errors)
    catalogue = Catalogue(**parts, campaigns=campaigns, bindings=bindings)
    return Loaded(catalogue=catalogue, root=root, errors=errors)


def load_catalogue(mappings_dir: Path) -> Catalogue:
    """The catalogue, campaigns and bindings under ``mappings_dir``; raises ``InputError``
    at the first error (run ``pingyi validate`` to see them all)."""
    from sync.validate import check  # validate builds on this module

    loaded = load(mappings_dir)
    errors = [p for p in check(loaded) if p.severity == "error"]
    if errors:
        first = errors[0]
        more = f"; {len(errors) - 1} more: run pingyi validate" if len(errors) > 1 else ""
        raise InputError(first.location, first.message, first.fix + more)
    return loaded.catalogue
