"""Every check on ``mappings/``: shape (while loading) and cross-references (here).

``validate(mappings_dir)`` returns all problems, errors and warnings, each with the file,
line and key it is about, and what to do. ``pingyi validate`` prints them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from sync.bindings import Binding, FixedUnit, QuestionUnit, RatingArray
from sync.catalogue import Campaign, Catalogue, Loaded, Scale, load
from sync.errors import InputError, Location
from sync.yamlsource import Located, loc_key

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    severity: Severity
    file: str | None
    line: int | None
    key: str | None
    message: str
    fix: str = ""

    @classmethod
    def of(cls, exc: InputError, severity: Severity = "error") -> Problem:
        w = exc.where
        return cls(severity, w.file, w.line, w.key, exc.problem, exc.fix)

    @property
    def location(self) -> Location:
        return Location(file=self.file, line=self.line, key=self.key)

    def __str__(self) -> str:
        where = self.file or "<mappings>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.severity == "warning":
            text += "warning: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.fix:
            text += f" ({self.fix})"
        return text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


TOLERANCE = 1e-6


def _known(codes: Iterable[str], limit: int = 12) -> str:
    items = list(codes)
    shown = ", ".join(items[:limit])
    return f"{shown}, … ({len(items)} in all)" if len(items) > limit else shown or "none"


class _Checker:
    """Cross-reference checks; each finding is appended to ``problems`` with its place."""

    def __init__(self, loaded: Loaded) -> None:
        self.cat = loaded.catalogue
        self.cat_file = loaded.catalogue_file
        self.problems: list[Problem] = []

    def add(
        self,
        obj: Located,
        path: tuple[Any, ...],
        message: str,
        fix: str = "",
        severity: Severity = "error",
    ) -> None:
        self.problems.append(
            Problem(severity, obj.where.file, obj.line_at(*path), obj.key_at(*path), message, fix)
        )

    def unknown(
        self, obj: Located, path: tuple[Any, ...], what: str, code: str, known: Iterable[str]
    ) -> None:
        self.add(
            obj,
            path,
            f"unknown {what} {code!r}",
            f"known: {_known(known)}; add it to {self.cat_file} or fix the code",
        )

    def weights(
        self,
        obj: Located,
        path: tuple[Any, ...],
        what: str,
        values: dict[str, float],
        leaf: tuple[Any, ...] = (),
    ) -> None:
        """Weights must add up to 1; the message lists each with its line, since any of
        them may be the wrong one."""
        total = sum(values.values())
        if abs(total - 1.0) > TOLERANCE:
            parts = ", ".join(
                f"{key} {value:g} on line {obj.line_at(*path, key, *leaf)}"
                for key, value in values.items()
            )
            self.add(
                obj, path, f"{what} add up to {total:g}, not 1: {parts}", "make them add up to 1"
            )

    # ------------------------------------------------------------------ catalogue

    def catalogue(self) -> None:
        for dim in self.cat.dimensions.values():
            for i, system in enumerate(dim.systems):
                if system not in self.cat.systems:
                    self.unknown(dim, ("systems", i), "system", system, self.cat.systems)
        for scale in self.cat.scales.values():
            self.scale(scale)

    def scale(self, scale: Scale) -> None:
        seen: dict[str, str] = {}
        entries = [("levels", i, lv.code) for i, lv in enumerate(scale.levels)]
        entries += [("excluded", i, ex.code) for i, ex in enumerate(scale.excluded)]
        for section, i, code in entries:
            if code in seen:
                self.add(
                    scale,
                    (section, i, "code"),
                    f"duplicate answer code {code!r} in scale {scale.code!r} "
                    f"(also in {seen[code]})",
                    "every level and excluded answer needs its own code",
                )
            seen[code] = section
        ranks = [lv.rank for lv in scale.levels]
        if len(set(ranks)) != len(ranks):
            self.add(
                scale, ("levels",), "two levels have the same rank", "rank levels 5 (best) .. 1"
            )

    # ------------------------------------------------------------------ campaigns

    def campaign(self, camp: Campaign, stem: str) -> None:
        cat = self.cat
        if stem != camp.code:
            self.add(
                camp,
                ("code",),
                f"campaign {camp.code!r} is in a file named {stem!r}",
                f"name the file {camp.code}.yaml",
                "warning",
            )
        for i, system in enumerate(camp.systems):
            if system not in cat.systems:
                self.unknown(camp, ("systems", i), "system", system, cat.systems)
        scale = cat.scales.get(camp.scale)
        if scale is None:
            self.unknown(camp, ("scale",), "scale", camp.scale, cat.scales)
        else:
            for field in ("satisfied_levels", "dissatisfied_levels"):
                for i, code in enumerate(getattr(camp, field)):
                    if scale.level(code) is None:
                        self.add(
                            camp,
                            (field, i),
                            f"{code!r} is not a level of scale {scale.code!r}",
                            f"levels: {_known(lv.code for lv in scale.levels)}",
                        )
            both = set(camp.satisfied(scale)) & set(camp.dissatisfied(scale))
            if both:
                self.add(
                    camp,
                    ("dissatisfied_levels",),
                    f"levels {sorted(both)} are both satisfied and dissatisfied",
                    "a level is one or the other (or neither)",
                )
        self.weights(
            camp,
            (),
            "questionnaire_weight and work_assessment_weight",
            {
                "questionnaire_weight": camp.questionnaire_weight,
                "work_assessment_weight": camp.work_assessment_weight,
            },
        )
        self.weights(
            camp,
            ("groups",),
            "group weights",
            {k: g.weight for k, g in camp.groups.items()},
            ("weight",),
        )
        present = [s for s in cat.systems if camp.takes_part(s)]
        for code, rule in camp.groups.items():
            if code not in cat.groups:
                self.unknown(camp, ("groups", code), "respondent group", code, cat.groups)
            path: tuple[Any, ...] = ("groups", code, "dimension_weights")
            self.weights(camp, path, f"dimension weights of group {code!r}", rule.dimension_weights)
            for dim_code in rule.dimension_weights:
                dim = cat.dimensions.get(dim_code)
                if dim is None:
                    self.unknown(camp, (*path, dim_code), "dimension", dim_code, cat.dimensions)
                elif not any(dim.applies_to(s) for s in present):
                    self.add(
                        camp,
                        (*path, dim_code),
                        f"dimension {dim_code!r} applies to none of the campaign's systems",
                        "remove its weight or add its systems to the campaign",
                        "warning",
                    )
        grades = camp.grades
        if grades.advanced_min < grades.passing_min:
            self.add(
                camp,
                ("grades", "advanced_min"),
                f"advanced_min {grades.advanced_min:g} is below passing_min {grades.passing_min:g}",
                "先进 needs at least the 达标 score",
            )
        self.days(camp)
        self.notes(camp, present)

    def days(self, camp: Campaign) -> None:
        rect = camp.rectification
        holidays = set(rect.holidays)
        for field, days in (("holidays", rect.holidays), ("extra_workdays", rect.extra_workdays)):
            seen: set[date] = set()
            for i, day in enumerate(days):
                if day in seen:
                    self.add(
                        camp, ("rectification", field, i), f"{day} is listed twice", "keep one"
                    )
                seen.add(day)
                if field == "extra_workdays" and day in holidays:
                    self.add(
                        camp,
                        ("rectification", field, i),
                        f"{day} is both a holiday and a working day",
                        "remove it from one of the two lists",
                    )
                elif field == "extra_workdays" and day.weekday() < 5:
                    self.add(
                        camp,
                        ("rectification", field, i),
                        f"{day} is a weekday: only weekend days worked (调休) belong here",
                        "check the date",
                        "warning",
                    )

    def notes(self, camp: Campaign, present: list[str]) -> None:
        exempt = camp.exempt_units()
        for field in ("exempt", "veto"):
            seen: set[str] = set()
            for i, note in enumerate(getattr(camp, field)):
                path = (field, i, "unit")
                unit = self.cat.units.get(note.unit)
                if unit is None:
                    self.unknown(camp, path, "unit", note.unit, self.cat.units)
                elif unit.system not in present:
                    self.add(
                        camp,
                        path,
                        f"unit {note.unit!r} ({unit.name}) is in system {unit.system!r}, "
                        "which is not in this campaign",
                        "remove it or add its system to the campaign",
                        "warning",
                    )
                if note.unit in seen:
                    self.add(camp, path, f"unit {note.unit!r} is listed twice", "keep one")
                seen.add(note.unit)
                if field == "veto" and note.unit in exempt:
                    self.add(
                        camp,
                        path,
                        f"unit {note.unit!r} is both exempt and vetoed",
                        "an exempt unit is not graded: remove it from one list",
                    )

    # ------------------------------------------------------------------ bindings

    def binding(self, b: Binding) -> None:
        cat = self.cat
        camp = cat.campaigns.get(b.campaign)
        if camp is None:
            self.unknown(b, ("campaign",), "campaign", b.campaign, cat.campaigns)
        if b.group not in cat.groups:
            self.unknown(b, ("group",), "respondent group", b.group, cat.groups)
        elif camp is not None and b.group not in camp.groups:
            self.add(
                b,
                ("group",),
                f"group {b.group!r} has no weight in campaign {camp.code!r}",
                f"add it under groups: in {camp.where.file} or change the group",
            )
        systems = self.unit_source(b, camp)
        self.ratings(b, camp, systems)
        for i, comment in enumerate(b.comments):
            if comment.dimension is not None and comment.dimension not in cat.dimensions:
                self.unknown(
                    b, ("comments", i, "dimension"), "dimension", comment.dimension, cat.dimensions
                )
        if not b.ratings:
            self.add(b, ("ratings",), "the binding rates nothing", "add ratings", "warning")
        self.columns(b)

    def unit_source(self, b: Binding, camp: Campaign | None) -> list[str]:
        """The systems whose units this survey may rate."""
        cat = self.cat
        in_campaign = [s for s in cat.systems if camp is None or camp.takes_part(s)]
        if isinstance(b.unit, FixedUnit):
            unit = cat.units.get(b.unit.unit)
            if unit is None:
                self.unknown(b, ("unit", "unit"), "unit", b.unit.unit, cat.units)
                return in_campaign
            if unit.system not in in_campaign:
                self.add(
                    b,
                    ("unit", "unit"),
                    f"unit {unit.code!r} ({unit.name}) is not in a system of campaign "
                    f"{b.campaign!r}",
                    "check the unit or the campaign's systems",
                    "warning",
                )
            return [unit.system]
        for answer, code in b.unit.code_map.items():
            if code not in cat.units:
                self.unknown(b, ("unit", "code_map", answer), "unit", code, cat.units)
        return in_campaign

    def ratings(self, b: Binding, camp: Campaign | None, systems: list[str]) -> None:
        cat = self.cat
        rule = camp.groups.get(b.group) if camp else None
        for i, rating in enumerate(b.ratings):
            dims: list[tuple[tuple[Any, ...], str]]
            if isinstance(rating, RatingArray):
                dims = [
                    (("ratings", i, "subquestions", sq), d) for sq, d in rating.subquestions.items()
                ]
            else:
                dims = [(("ratings", i, "dimension"), rating.dimension)]
            scale = cat.scale_of(b, rating.scale)
            if rating.scale is not None and scale is None:
                self.unknown(b, ("ratings", i, "scale"), "scale", rating.scale, cat.scales)
            elif scale is not None:
                for answer, level in rating.answer_map.items():
                    if level not in scale.codes():
                        self.add(
                            b,
                            ("ratings", i, "answer_map", answer),
                            f"{level!r} is not an answer of scale {scale.code!r}",
                            f"answers: {_known(sorted(scale.codes()))}",
                        )
            for path, code in dims:
                dim = cat.dimensions.get(code)
                if dim is None:
                    self.unknown(b, path, "dimension", code, cat.dimensions)
                    continue
                if not any(dim.applies_to(s) for s in systems):
                    self.add(
                        b,
                        path,
                        f"dimension {code!r} ({dim.name}) applies to none of the units this "
                        "survey can rate",
                        "its answers will be stored but not scored: check the dimension",
                        "warning",
                    )
                elif rule is not None and code not in rule.dimension_weights:
                    self.add(
                        b,
                        path,
                        f"dimension {code!r} has no weight for group {b.group!r} in campaign "
                        f"{b.campaign!r}",
                        "its answers will be stored but not scored: add a weight or ignore",
                        "warning",
                    )

    def columns(self, b: Binding) -> None:
        seen: dict[str, str] = {}
        named: list[tuple[tuple[Any, ...], str]] = []
        if isinstance(b.unit, QuestionUnit):
            named.append((("unit", "column"), b.unit.column))
        for i, rating in enumerate(b.ratings):
            if isinstance(rating, RatingArray):
                named += [
                    (("ratings", i, "subquestions", sq), f"{rating.question}[{sq}]")
                    for sq in rating.subquestions
                ]
            else:
                named.append((("ratings", i, "column"), rating.column))
        named += [(("comments", i, "column"), c.column) for i, c in enumerate(b.comments)]
        named += [(("private", i), c) for i, c in enumerate(b.private)]
        for path, column in named:
            if column in seen:
                self.add(
                    b,
                    path,
                    f"column {column!r} is used twice (also at {seen[column]})",
                    "a column has one role: unit, rating, comment or private",
                )
            else:
                seen[column] = loc_key(path)


def check(loaded: Loaded, sites: Collection[str] = ()) -> list[Problem]:
    """Shape problems found while loading, then cross-reference problems.

    ``sites``: the site names configured in pingyi.toml, if any; a binding for another
    site is then a warning (it would never be synced)."""
    checker = _Checker(loaded)
    checker.catalogue()
    for camp in loaded.catalogue.campaigns.values():
        checker.campaign(camp, Path(camp.where.file or "").stem)
    for binding in loaded.catalogue.bindings.values():
        checker.binding(binding)
        if sites and binding.site not in sites:
            checker.add(
                binding,
                ("site",),
                f"no site {binding.site!r} in the configuration, so this survey is never synced",
                f"configured sites: {_known(sites)}; fix the name or add the site",
                "warning",
            )
    return [Problem.of(e) for e in loaded.errors] + checker.problems


def check_binding(
    catalogue: Catalogue, binding: Binding, mappings_dir: Path, label: str
) -> list[Problem]:
    """Cross-reference problems of one binding that did not come from ``mappings_dir``
    (the plugin's manifest), the same checks a YAML binding gets. ``label`` stands for the
    file in each problem (e.g. "district survey 222222 (plugin)")."""
    checker = _Checker(Loaded(catalogue=catalogue, root=Path(mappings_dir)))
    checker.binding(binding)
    return ordered(
        Problem(p.severity, p.file or label, p.line, p.key, p.message, p.fix)
        for p in checker.problems
    )


def validate(mappings_dir: Path, sites: Collection[str] = ()) -> list[Problem]:
    """Every problem in ``mappings_dir``: errors first, then warnings, each in file order."""
    return ordered(check(load(mappings_dir), sites))


def ordered(problems: Iterable[Problem]) -> list[Problem]:
    """Errors first, then warnings, each in file and line order."""
    return sorted(problems, key=lambda p: (p.severity != "error", p.file or "", p.line or 0))
