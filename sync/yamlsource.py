"""YAML that remembers where things are, so every complaint about mappings/ says file:line.

PyYAML throws the line numbers away once nodes become Python objects. ``load_yaml``
builds ``LineDict``/``LineList`` instead of dict/list: they are ordinary containers that
also know the line of the mapping (or sequence) itself and of each key (or item).
``line_of(document, loc)`` then turns a path such as ``("ratings", 2, "dimension")`` (the
``loc`` pydantic puts in its errors) into the closest line we know.

Two things plain PyYAML does silently that a person editing a mapping never wants:
a key written twice in one mapping (the last silently wins) and a tab or a syntax slip
surfacing as a traceback. Both become an ``InputError`` with file:line here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode

from sync.errors import InputError, Location


class LineDict(dict[Any, Any]):
    """A dict from YAML: ``line`` of the mapping, ``lines[key]`` of each key (1-based)."""

    line: int
    lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.lines = {}


class LineList(list[Any]):
    """A list from YAML: ``line`` of the sequence, ``lines[i]`` of each item (1-based)."""

    line: int
    lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.lines = []


class _DuplicateKey(ConstructorError):
    """A key written twice in one mapping: PyYAML would keep the last one silently."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) whose mappings and sequences keep their lines."""


def _construct_mapping(loader: _LineLoader, node: MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            )
        line = key_node.start_mark.line + 1
        if key in out:
            raise _DuplicateKey(
                None,
                None,
                f"duplicate key {key!r} (first on line {out.lines[key]})",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _construct_sequence(loader: _LineLoader, node: SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str, file: str) -> Any:
    """Parse one YAML document; a syntax error becomes ``InputError`` at its file:line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except _DuplicateKey as exc:
        mark = exc.problem_mark
        raise InputError(
            Location(file=file, line=mark.line + 1 if mark else None),
            str(exc.problem),
            "a code or key may appear only once in a mapping: keep one of them",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise InputError(
            Location(file=file, line=line),
            f"not valid YAML: {problem}",
            "fix the YAML syntax (indent with spaces, quote text that contains ': ' or '#')",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(Location(file=file), f"not valid YAML: {exc}") from None


def load_yaml(path: Path) -> Any:
    """Read and parse a UTF-8 YAML file (a BOM is tolerated, other encodings are not)."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(Location(file=file), f"cannot read file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            Location(file=file, line=line),
            "not UTF-8 text",
            "save the file as UTF-8 (mappings are UTF-8 so every Chinese character survives)",
        ) from None
    return parse_yaml(text, file)


def line_of(document: Any, loc: Iterable[Any]) -> int | None:
    """The line of the deepest element of ``loc`` present in ``document``.

    Walks as far as the path exists: a missing key reports the line of the mapping that
    should hold it; an element that is not a container reports its own key's line.
    """
    current = document
    line: int | None = getattr(document, "line", None) or None
    for part in loc:
        if isinstance(current, LineDict) and part in current:
            line = current.lines.get(part, line)
            current = current[part]
        elif isinstance(current, LineList) and isinstance(part, int) and 0 <= part < len(current):
            line = current.lines[part]
            current = current[part]
        else:
            break
    return line


#: union tags that pydantic puts in an error's ``loc`` but that are not keys in the YAML
UNION_TAGS: set[str] = set()
#: regular expression -> what it means to a person (filled by the modules declaring them)
PATTERN_HELP: dict[str, str] = {}
#: max_length -> why (LimeSurvey's limits)
LENGTH_HELP: dict[int, str] = {}


class Located(BaseModel):
    """Base of every mappings model: frozen, no unknown keys, and it remembers ``where``.

    ``where`` is private (not a field): it is not part of the document, its JSON Schema or
    equality. It is filled when the model is validated from a ``LineDict`` with
    ``context={"file": ...}``; objects made in code have ``Location()``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    _where: Location = PrivateAttr(default_factory=Location)
    #: the YAML it was read from, to find the line of any key inside it later
    _source: Any = PrivateAttr(default=None)
    #: where it sits in its file (``("systems", "edu", "units", "E0101")``), for messages
    _path: tuple[Any, ...] = PrivateAttr(default=())

    @property
    def where(self) -> Location:
        return self._where

    def line_at(self, *path: Any) -> int | None:
        """Line of ``path`` inside this object (``line_at("units", 0)``), else its own."""
        found = line_of(self._source, path) if self._source is not None else None
        return found or self._where.line

    def key_at(self, *path: Any) -> str:
        """``ratings[2].dimension``: the key of ``path`` inside this object, from the top
        of its file."""
        return loc_key(self._path + path)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_where(
        cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        model = handler(data)
        context = info.context if isinstance(info.context, dict) else {}
        if isinstance(data, LineDict | LineList) and isinstance(model, Located):
            model._where = Location(file=context.get("file"), line=data.line or None)
            model._source = data
        return model

    def __eq__(self, other: object) -> bool:
        # where a thing was written does not change what it is
        if not isinstance(other, BaseModel) or type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]


def loc_key(loc: Iterable[Any]) -> str:
    """``("ratings", 2, "dimension")`` -> ``ratings[2].dimension`` (union tags dropped)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in UNION_TAGS or part == "[key]":
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


def input_errors(
    exc: ValidationError, document: Any, file: str, prefix: tuple[Any, ...] = ()
) -> list[InputError]:
    """One ``InputError`` per pydantic error, each at the line ``loc`` points to."""
    out: list[InputError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in UNION_TAGS and p != "[key]")
        msg = err["msg"]
        fix = ""
        if err["type"] == "string_type" and isinstance(err.get("input"), int | float | bool):
            fix = "quote it: YAML reads 2022, 0101 or yes as numbers/booleans, codes are text"
        elif err["type"] == "string_pattern_mismatch":
            pattern = str(err.get("ctx", {}).get("pattern", ""))
            msg = f"{err.get('input')!r} is not allowed here"
            fix = PATTERN_HELP.get(pattern, f"it must match {pattern}")
        elif err["type"] == "string_too_long":
            limit = int(err.get("ctx", {}).get("max_length", 0))
            msg = f"{err.get('input')!r} is longer than {limit} characters"
            fix = LENGTH_HELP.get(limit, "shorten it")
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
            fix = "remove it or check its spelling"
        elif err["type"] == "missing":
            fix = "add this key"
        out.append(
            InputError(
                Location(file=file, line=line_of(document, loc), key=loc_key(prefix + loc)),
                msg,
                fix,
            )
        )
    return out
