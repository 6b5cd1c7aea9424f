"""The daemon accepts exactly what the PHP plugin emits, and nothing unsigned or stale.

The fixtures in tests/fixtures/plugin/ are written by the plugin's PHPUnit tests
(`make php`): manifest bodies as the ManifestBuilder emits them, the headers the endpoint
signs them with, and signing vectors. Here they are checked with the 2020-12 JSON Schema
and the pydantic model, and ``fetch_manifest`` talks to the plugin's real endpoint code
served by ``php -S`` on loopback (skipped when PHP is not installed).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from sync.bindings import SCHEMA_PATH, Binding, FixedUnit, QuestionUnit
from sync.errors import InputError, PermanentError, TransientError
from sync.manifest import canonical_query, fetch_manifest, manifest_request_url
from sync.map import Mapped, Rejected, map_row
from sync.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify
from tests.syncdata import CATALOGUE_DOC, make_catalogue, make_row

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "plugin"
ROUTER = ROOT / "plugin" / "tests" / "server" / "manifest_router.php"
#: Samples::SECRET and Samples::NOW in plugin/tests/Samples.php
SECRET = "pingyi-test-secret-评议-𠮷".encode()
NOW = 1700000000
MANIFESTS = sorted(p for p in FIXTURES.glob("manifest_*.json") if ".headers." not in p.name)


def _headers(manifest: Path) -> dict[str, str]:
    data = json.loads(manifest.with_suffix(".headers.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def test_the_plugin_wrote_manifests() -> None:
    names = {p.stem for p in MANIFESTS}
    assert {"manifest_question_unit", "manifest_fixed_unit"} <= names


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_plugin_manifest_is_valid_by_schema_and_model(manifest: Path) -> None:
    body = manifest.read_bytes()
    data = json.loads(body.decode("utf-8"))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    binding = Binding.model_validate(data)
    assert binding.source == "plugin"
    assert binding.site == "district"
    # the model keeps every column the plugin named
    assert binding.columns() >= {"overall", "detail[SQ001]", "detail[SQ004]", "comment", "phone"}


def test_question_unit_manifest_means_what_the_designer_tagged() -> None:
    binding = Binding.model_validate_json((FIXTURES / "manifest_question_unit.json").read_bytes())
    assert binding.survey_id == 111111
    assert binding.title == "群众满意度调查 𠮷 😀"
    assert isinstance(binding.unit, QuestionUnit)
    assert binding.unit.column == "office"
    assert [(i.column, i.dimension) for i in binding.rating_items()] == [
        ("overall", "overall"),
        ("detail[SQ001]", "attitude"),
        ("detail[SQ002]", "efficiency"),
        ("detail[SQ003]", "integrity"),
        ("detail[SQ004]", "openness"),
    ]
    assert binding.private == ("phone",)
    assert binding.token == "drop"


def test_fixed_unit_manifest() -> None:
    binding = Binding.model_validate_json((FIXTURES / "manifest_fixed_unit.json").read_bytes())
    assert binding.unit == FixedUnit(source="fixed", unit="U0101")
    assert binding.group == "enterprises"
    assert binding.token == "hash"
    assert "office" not in binding.columns()


def test_schema_check_can_fail() -> None:
    data = json.loads((FIXTURES / "manifest_question_unit.json").read_bytes())
    data["unit"] = {"source": "fixed", "unit": "U010101"}
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_plugin_signature_verifies_in_python(manifest: Path) -> None:
    headers = _headers(manifest)
    body = manifest.read_bytes()
    ts = verify(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, now=NOW + 5)
    assert ts == NOW


def test_manifest_signed_with_another_secret_is_refused() -> None:
    manifest = FIXTURES / "manifest_question_unit.json"
    headers = _headers(manifest)
    with pytest.raises(SignatureError, match="bad signature"):
        verify(
            b"another secret",
            headers[TIMESTAMP_HEADER],
            headers[SIGNATURE_HEADER],
            manifest.read_bytes(),
            now=NOW,
        )


def test_manifest_too_old_is_refused() -> None:
    manifest = FIXTURES / "manifest_question_unit.json"
    headers = _headers(manifest)
    with pytest.raises(SignatureError, match="replay window"):
        verify(
            SECRET,
            headers[TIMESTAMP_HEADER],
            headers[SIGNATURE_HEADER],
            manifest.read_bytes(),
            now=NOW + 301,
        )


def test_altered_manifest_is_refused() -> None:
    manifest = FIXTURES / "manifest_question_unit.json"
    headers = _headers(manifest)
    body = manifest.read_bytes().replace(b'"overall"}', b'"integrity"}', 1)
    assert body != manifest.read_bytes()
    with pytest.raises(SignatureError):
        verify(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, now=NOW)


def test_signing_vectors_agree_between_php_and_python() -> None:
    vectors = json.loads((FIXTURES / "signing_vectors.json").read_text(encoding="utf-8"))
    assert len(vectors) >= 4
    for v in vectors:
        secret = bytes.fromhex(v["secret_hex"])
        payload = bytes.fromhex(v["payload_hex"])
        assert sign(secret, v["timestamp"], payload) == v["signature"]
    # the request vector is the canonical query both sides sign
    assert bytes.fromhex(vectors[2]["payload_hex"]) == canonical_query(111111, NOW).encode()


def test_request_url_keeps_limesurvey_routing_and_signs_the_canonical_query() -> None:
    url = manifest_request_url(
        "http://ls.example/index.php?r=plugins/unsecure&plugin=Pingyi&function=manifest&sig=old",
        111111,
        SECRET,
        NOW,
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["r"] == "plugins/unsecure"
    assert query["function"] == "manifest"
    assert query["sid"] == "111111"
    assert query["ts"] == str(NOW)
    assert query["sig"] == sign(SECRET, NOW, b"sid=111111&ts=1700000000")
    with pytest.raises(PermanentError):
        manifest_request_url("ftp://ls.example/x", 1, SECRET, NOW)


# ----------------------------------------------------------------- the real PHP endpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def php_endpoint() -> Iterator[str]:
    php = shutil.which("php")
    if php is None:
        pytest.skip("php not installed (make php installs it)")
    port = _free_port()
    env = {**os.environ, "PINGYI_TEST_SECRET": SECRET.decode()}
    proc = subprocess.Popen(
        [php, "-S", f"127.0.0.1:{port}", str(ROUTER)],
        cwd=ROUTER.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/index.php/plugins/unsecure/plugin/Pingyi/function/manifest"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_fetch_manifest_from_the_php_endpoint(php_endpoint: str) -> None:
    binding = fetch_manifest(php_endpoint, 111111, SECRET, site="district")
    assert binding.source == "plugin"
    assert binding.title == "群众满意度调查 𠮷 😀"
    expected = Binding.model_validate_json((FIXTURES / "manifest_question_unit.json").read_bytes())
    assert binding == expected


def test_the_php_endpoint_refuses_another_secret(php_endpoint: str) -> None:
    with pytest.raises(PermanentError, match="bad signature"):
        fetch_manifest(php_endpoint, 111111, b"another secret")


def test_the_php_endpoint_refuses_a_stale_request(php_endpoint: str) -> None:
    with pytest.raises(PermanentError, match="replay window"):
        fetch_manifest(php_endpoint, 111111, SECRET, now=time.time() - 3600)


def test_a_reply_outside_our_window_is_refused(php_endpoint: str) -> None:
    # our clock 200 s ahead: the plugin accepts (window 300 s) but we allow only 100 s
    with pytest.raises(SignatureError, match="replay window"):
        fetch_manifest(php_endpoint, 111111, SECRET, now=time.time() + 200, replay_seconds=100)


def test_unknown_survey_is_permanent(php_endpoint: str) -> None:
    with pytest.raises(PermanentError, match="not found"):
        fetch_manifest(php_endpoint, 999999, SECRET)


def test_invalid_settings_come_back_as_input_error_with_the_problems(php_endpoint: str) -> None:
    with pytest.raises(InputError, match="未指定评议维度") as info:
        fetch_manifest(php_endpoint, 444444, SECRET)
    assert info.value.where.survey_id == 444444


def test_site_name_mismatch_is_input_error(php_endpoint: str) -> None:
    with pytest.raises(InputError, match="site"):
        fetch_manifest(php_endpoint, 111111, SECRET, site="other")


def test_nobody_listening_is_transient() -> None:
    url = f"http://127.0.0.1:{_free_port()}/manifest"
    with pytest.raises(TransientError):
        fetch_manifest(url, 111111, SECRET, timeout=(1.0, 1.0))


def test_mapped_codes_manifest_maps_a_row_through_its_maps() -> None:
    """A survey whose answer codes are its own (units 1..6, ratings 5..0), mapped with the
    plugin's pingyiCodeMap: the daemon stores the catalogue's codes and keeps the raw one."""
    binding = Binding.model_validate_json((FIXTURES / "manifest_mapped_codes.json").read_bytes())
    assert isinstance(binding.unit, QuestionUnit)
    assert binding.unit.code_map == {str(i): f"U010{i}" for i in range(1, 7)}
    to_scale = {"5": "A1", "4": "A2", "3": "A3", "2": "A4", "1": "A5", "0": "A6"}
    items = binding.rating_items()
    assert [(i.column, i.scale, dict(i.answer_map)) for i in items][:2] == [
        ("overall", "five_level", to_scale),
        ("detail[SQ001]", "five_level", to_scale),
    ]

    doc = json.loads(json.dumps(CATALOGUE_DOC))
    doc["dimensions"].update(
        {code: {"code": code, "name": code} for code in ("integrity", "openness")}
    )
    catalogue = make_catalogue(doc)
    cells = {"office": "2", "overall": "5", "detail[SQ001]": "0", "detail[SQ002]": "1"}
    row = make_row(8, {**cells, "detail[SQ003]": "4", "detail[SQ004]": None})
    out = map_row(row, binding, catalogue, token_key=None)
    assert isinstance(out, Mapped), out
    assert out.response.unit == "U0102"
    got = {o.item: (o.raw_code, o.level, o.points, o.counted) for o in out.observations}
    assert got == {
        "overall": ("5", "A1", 100.0, True),
        "detail[SQ001]": ("0", None, None, False),  # A6: "don't know", stored, not counted
        "detail[SQ002]": ("1", "A5", 0.0, True),
        "detail[SQ003]": ("4", "A2", 80.0, True),
    }
    # a code the map does not know is quarantined with a reason, not guessed
    bad = map_row(
        make_row(9, {**cells, "overall": "9", "detail[SQ003]": "4", "detail[SQ004]": "3"}),
        binding,
        catalogue,
        token_key=None,
    )
    assert isinstance(bad, Rejected)
    assert bad.reason_code == "unknown_answer"
    assert "'9'" in bad.reason
