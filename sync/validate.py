"""Every check on ``mappings/``: shape (while loading) and cross-references (here).

``validate(mappings_dir)`` returns all problems, errors and warnings, each with the file,
line and key it is about, and what to do. ``pingyi validate`` prints them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sync.catalogue import Loaded, load
from sync.errors import InputError, Location

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


def check(loaded: Loaded) -> list[Problem]:
    """Shape problems found while loading, then cross-reference problems."""
    return [Problem.of(e) for e in loaded.errors]


def validate(mappings_dir: Path) -> list[Problem]:
    return check(load(mappings_dir))
