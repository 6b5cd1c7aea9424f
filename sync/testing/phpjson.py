"""JSON bytes exactly as PHP's ``json_encode`` (default flags) writes them.

LimeSurvey answers with ``json_encode``: no spaces, every non-ASCII character as
``\\uXXXX`` (a 4-byte character as a surrogate pair, ``\\ud842\\udfb7`` for 𠮷) and ``/``
escaped as ``\\/``. Python's encoder with ``ensure_ascii`` already writes lower-case
surrogate pairs, so only the slash differs.
"""

from __future__ import annotations

import json
from typing import Any


def php_json(value: Any) -> str:
    """``json_encode($value)``. A ``/`` only ever occurs inside JSON strings, so a plain
    replace is exact."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def php_json_bytes(value: Any) -> bytes:
    return php_json(value).encode("ascii")
