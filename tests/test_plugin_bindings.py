"""Bindings served by the Pingyi plugin, on the daemon's side: used for a listed survey
without a YAML file, a YAML file wins (with a warning when they differ), a plugin binding
that does not match the catalogue is refused as that survey's failure while the others
sync, ``pingyi validate --sites`` asks the plugin, and a wrong ``plugin_url`` is named.

The plugin is a real HTTP server on loopback that serves the manifests the PHP plugin
emitted (tests/fixtures/plugin/), signed afresh with the shared secret and only for a
correctly signed request, like ``ManifestEndpoint``; one test asks the real PHP endpoint
under ``php -S``.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from sync import catalogue as catalogue_mod
from sync import config as config_mod
from sync import db
from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.cli import cli
from sync.cli.catalogue import store_catalogue
from sync.cli.status import collect
from sync.config import SiteConfig
from sync.daemon import Daemon
from sync.errors import PermanentError
from sync.limesurvey import LimeSurveyClient
from sync.manifest import (
    ManifestSignatureError,
    PluginUrlError,
    canonical_query,
    fetch_manifest,
)
from sync.models import Response, SurveyBinding, SyncCursor
from sync.pull import PassReport
from sync.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify
from sync.sites import FAILURE_TTL, PLUGIN_FIX, PluginBindings, differences
from sync.testing.double import LimeSurveyDouble
from sync.testing.samples import satisfaction_rows, satisfaction_survey
from tests.test_plugin_manifest import (
    FIXTURES,
    php_endpoint,  # noqa: F401 (a fixture)
)
from tests.test_plugin_manifest import SECRET as PHP_SECRET

REPO = Path(__file__).resolve().parent.parent
SECRET = "共享密钥-𠮷-shared".encode()
SECRET_ENV = "PINGYI_TEST_PLUGIN_SECRET"
PATH_FORM = "/index.php/plugins/unsecure/plugin/Pingyi/function/manifest"
GET_FORM = "/index.php?r=plugins/unsecure&plugin=Pingyi&function=manifest"
#: what the PHP plugin emitted, by survey id
SERVED = {
    111111: "manifest_question_unit.json",  # a YAML file binds 111111 too, differently
    222222: "manifest_fixed_unit.json",  # unit U0101 is not in our catalogue: refused
    333333: "manifest_array_single_dimension.json",  # valid once `attitude` is a dimension
}
HOME_PAGE = b"<!DOCTYPE html>\n<html><head><title>LimeSurvey</title></head><body></body></html>"


# -- a plugin on loopback ------------------------------------------------------------------


@dataclass
class Plugin:
    """What the fake site was asked, and how it answers."""

    url: str = ""
    documents: dict[int, bytes] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)
    #: a LimeSurvey with urlFormat=path: the r= form shows the home page
    path_site: bool = True
    unsigned: bool = False
    #: False: LimeSurvey has no active plugin of that name (its route answers empty)
    installed: bool = True

    def count(self, sid: int) -> int:
        return self.asked.count(sid)


def _handler(plugin: Plugin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if plugin.path_site and query.get("r", "").startswith("plugins/"):
                self._send(200, HOME_PAGE, "text/html; charset=UTF-8", signed=False)
                return
            if parts.path != PATH_FORM and query.get("r") != "plugins/unsecure":
                self._send(404, b"<html>Page not found</html>", "text/html", signed=False)
                return
            if not plugin.installed:
                self._send(200, b"", "text/html; charset=UTF-8", signed=False)
                return
            sid = int(query.get("sid", "0"))
            plugin.asked.append(sid)
            try:
                ts = verify(
                    SECRET,
                    query.get("ts"),
                    query.get("sig"),
                    canonical_query(sid, int(query.get("ts", "0"))).encode(),
                )
            except (SignatureError, ValueError) as exc:
                self._json(403, {"error": str(exc)})
                return
            assert ts
            body = plugin.documents.get(sid)
            if body is None:
                self._json(404, {"error": "survey not found"})
                return
            self._send(200, body, "application/json; charset=utf-8", signed=not plugin.unsigned)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json", signed=True)

        def _send(self, status: int, body: bytes, kind: str, *, signed: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if signed:
                now = int(time.time())
                self.send_header(TIMESTAMP_HEADER, str(now))
                self.send_header(SIGNATURE_HEADER, sign(SECRET, now, body))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def plugin() -> Iterator[Plugin]:
    served = Plugin(documents={sid: (FIXTURES / name).read_bytes() for sid, name in SERVED.items()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


# -- a records database, mappings and a config ----------------------------------------------


@dataclass
class World:
    root: Path
    config: Path
    mappings: Path
    db_url: str
    plugin: Plugin

    def write_config(self, surveys: list[int], plugin_url: str | None = None) -> None:
        url = plugin_url if plugin_url is not None else self.plugin.url + PATH_FORM
        self.config.write_text(
            f"""mappings = "mappings"

[database]
url = "{self.db_url}"

[daemon]
interval_seconds = 3600
webhook_secret_env = "{SECRET_ENV}"

[[sites]]
name = "district"
url = "http://127.0.0.1:9/index.php/admin/remotecontrol"
user = "sync"
password_env = "PINGYI_TEST_UNUSED_PASSWORD"
surveys = {json.dumps(surveys)}
plugin_url = "{url}"
""",
            encoding="utf-8",
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def engine(self) -> Engine:
        return db.make_engine(self.db_url)


def with_dimension(mappings: Path, code: str, name: str) -> None:
    """Add a dimension to the copied catalogue (the plugin's sample catalogue has
    ``attitude``, ours does not)."""
    path = mappings / "catalogue.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\ndimensions:\n" in text
    path.write_text(
        text.replace("\ndimensions:\n", f"\ndimensions:\n  {code}: {name}\n", 1), encoding="utf-8"
    )


@pytest.fixture
def world(tmp_path: Path, plugin: Plugin, monkeypatch: pytest.MonkeyPatch) -> World:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    with_dimension(mappings, "attitude", "服务态度")
    db_url = f"sqlite:///{tmp_path / 'records.db'}"
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        store_catalogue(conn, catalogue_mod.load_catalogue(mappings))
    engine.dispose()
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    monkeypatch.delenv("PINGYI_CONFIG", raising=False)
    monkeypatch.delenv("PINGYI_DATABASE_URL", raising=False)
    made = World(tmp_path, tmp_path / "pingyi.toml", mappings, db_url, plugin)
    made.write_config([111111, 222222, 333333])
    return made


# -- the daemon with a stand-in pass ------------------------------------------------------


@dataclass
class RecordingPass:
    """Takes the place of run_pass: keeps the binding each pass was given."""

    given: dict[int, list[Binding]] = field(default_factory=dict)

    def __call__(
        self,
        engine: Engine,
        client: LimeSurveyClient,
        site: SiteConfig,
        binding: Binding,
        catalogue: Catalogue,
        **_: Any,
    ) -> PassReport:
        self.given.setdefault(binding.survey_id, []).append(binding)
        return PassReport(fetched=1, inserted=1)


class NoClient:
    retries = 0

    def close(self) -> None:
        pass


def daemon_for(world: World) -> tuple[Daemon, RecordingPass]:
    daemon = Daemon.from_config(config_mod.load(world.config))
    fake = RecordingPass()
    daemon.pass_fn = fake
    daemon.client_factory = lambda site: cast(LimeSurveyClient, NoClient())
    daemon.after_pass = []
    return daemon, fake


def one_round(world: World) -> tuple[int, dict[str, Any], RecordingPass]:
    """One pass over every survey: failures, /healthz's detail, the passes made."""
    daemon, fake = daemon_for(world)
    try:
        failed = daemon.run_once()
        _, health = daemon.health()
    finally:
        daemon.engine.dispose()
    return failed, health, fake


def fixture_binding(sid: int) -> Binding:
    return Binding.model_validate_json((FIXTURES / SERVED[sid]).read_bytes())


def test_the_daemon_syncs_a_listed_survey_with_the_plugins_binding(world: World) -> None:
    daemon, fake = daemon_for(world)
    try:
        assert set(daemon.jobs) == {
            ("district", 111111),
            ("district", 222222),
            ("district", 333333),
        }
        assert daemon.jobs[("district", 333333)] is None  # read from the plugin at each pass
        failed = daemon.run_once()
        failed += daemon.run_once()  # within the interval: the manifest is not asked again
    finally:
        daemon.engine.dispose()
    (used, again) = fake.given[333333]
    assert used.source == "plugin"
    assert used == again == fixture_binding(333333)
    assert world.plugin.count(333333) == 1
    assert failed == 2  # 222222, twice
    engine = world.engine()
    with engine.connect() as conn:
        row = conn.execute(sa.select(SurveyBinding).where(SurveyBinding.survey_id == 333333)).one()
    engine.dispose()
    assert (row.source, row.campaign_code, row.group_code) == ("plugin", "2022", "citizens")
    assert row.document["ratings"][1]["subquestions"]["SQ001"] == "attitude"


def test_an_invalid_plugin_binding_is_that_surveys_failure_only(world: World) -> None:
    failed, health, fake = one_round(world)
    assert failed == 1
    assert 222222 not in fake.given  # never synced with a binding the catalogue refuses
    assert set(fake.given) == {111111, 333333}  # the others went on
    by_sid = {s["survey_id"]: s for s in health["surveys"]}
    assert by_sid[222222]["last_error_kind"] == "input"
    assert "unknown unit 'U0101'" in by_sid[222222]["last_error"]
    assert "survey 222222" in by_sid[222222]["last_error"]
    assert PLUGIN_FIX in by_sid[222222]["last_error"]
    assert by_sid[333333]["last_error_kind"] is None
    # pingyi status reads it from the records database
    engine = world.engine()
    try:
        with engine.connect() as conn:
            cursor = conn.execute(sa.select(SyncCursor).where(SyncCursor.survey_id == 222222)).one()
        doc = collect(engine, config_mod.load(world.config))
    finally:
        engine.dispose()
    assert cursor.last_error_kind == "input"
    assert "unknown unit 'U0101'" in (cursor.last_error or "")
    status = {s["survey_id"]: s for s in doc["surveys"]}
    assert status[222222]["failing"]
    assert status[222222]["bound"]
    assert status[333333]["bound"]
    assert not status[333333]["failing"]


def test_yaml_wins_with_a_warning_naming_the_file_and_the_difference(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, fake = daemon_for(world)
    caplog.set_level(logging.WARNING, logger="sync.sites")
    try:
        daemon.run_once()
        daemon.run_once()
    finally:
        daemon.engine.dispose()
    assert all(b.source == "yaml" for b in fake.given[111111])
    assert fake.given[111111][0].unit.source == "question"
    warnings = [r.getMessage() for r in caplog.records if "survey 111111" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once, not every cycle
    text = warnings[0]
    assert "citizens_111111.yaml:10" in text  # the title, the first difference
    assert 'title: "政务服务满意度调查" in YAML, "群众满意度调查 𠮷 😀" from the plugin' in text
    assert "unit.code_map" in text
    assert 'ratings[1].subquestions.SQ001: "efficiency" in YAML, "attitude"' in text


def test_the_same_binding_from_both_is_no_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    yaml = catalogue_mod.load_catalogue(world.mappings).bindings[("district", 111111)]
    world.plugin.documents[111111] = json.dumps(
        {**yaml.model_dump(mode="json"), "source": "plugin"}, ensure_ascii=False
    ).encode()
    daemon, fake = daemon_for(world)
    caplog.set_level(logging.WARNING, logger="sync.sites")
    try:
        daemon.run_once()
    finally:
        daemon.engine.dispose()
    assert world.plugin.count(111111) == 1  # it was asked
    assert fake.given[111111] == [yaml]
    assert not [r for r in caplog.records if "111111" in r.getMessage()]


def test_differences_ignore_source_and_list_paths() -> None:
    yaml = fixture_binding(111111).model_copy(update={"source": "yaml"})
    assert differences(yaml, fixture_binding(111111)) == []
    other = fixture_binding(333333).model_copy(update={"survey_id": 111111})
    found = differences(yaml, other, limit=20)
    assert [path for path, _ in found] == [  # in document order, the leaves that differ
        ("title",),
        ("ratings", 1, "subquestions", "SQ002"),
        ("ratings", 1, "subquestions", "SQ003"),
        ("ratings", 1, "subquestions", "SQ004"),
        ("private",),
    ]
    assert found[0][1] == '"群众满意度调查 𠮷 😀" in YAML, null from the plugin'
    assert len(differences(yaml, other, limit=2)) == 2


def test_empty_surveys_list_syncs_yaml_bound_surveys_only(world: World) -> None:
    world.write_config([])
    daemon, _ = daemon_for(world)
    daemon.engine.dispose()
    assert all(binding is not None for binding in daemon.jobs.values())
    assert ("district", 111111) in daemon.jobs
    assert ("district", 333333) not in daemon.jobs


def test_a_missing_secret_is_a_survey_failure_not_a_crash(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    failed, health, fake = one_round(world)
    assert failed == 2
    assert set(fake.given) == {111111}
    by_sid = {s["survey_id"]: s for s in health["surveys"]}
    assert by_sid[333333]["last_error_kind"] == "config"
    assert "no shared secret" in by_sid[333333]["last_error"]
    assert world.plugin.asked == []


# -- a wrong plugin_url ------------------------------------------------------------------


def test_the_get_form_on_a_path_site_is_diagnosed(plugin: Plugin) -> None:
    with pytest.raises(PluginUrlError) as info:
        fetch_manifest(plugin.url + GET_FORM, 333333, SECRET)
    message = str(info.value)
    assert "HTML page (HTTP 200, not signed)" in message
    assert "urlFormat is 'get'" in message
    assert f'plugin_url = "{plugin.url}{PATH_FORM}"' in message
    assert plugin.asked == []


def test_a_page_that_is_not_the_plugin_suggests_both_forms(plugin: Plugin) -> None:
    with pytest.raises(PluginUrlError) as info:
        fetch_manifest(plugin.url + "/index.php/plugins/unsecure/plugin/Pingyy", 333333, SECRET)
    message = str(info.value)
    assert "HTTP 404" in message
    assert "installed and active" in message
    assert f'"{plugin.url}{GET_FORM}"' in message
    assert f'"{plugin.url}{PATH_FORM}"' in message


def test_a_plugin_not_installed_is_named(plugin: Plugin) -> None:
    plugin.installed = False
    with pytest.raises(PluginUrlError) as info:
        fetch_manifest(plugin.url.replace("//", "//admin:pw@") + PATH_FORM, 333333, SECRET)
    message = str(info.value)
    assert "empty page (HTTP 200, not signed)" in message
    assert "installed and active" in message
    assert f"plugin_url {plugin.url}{PATH_FORM} " in message
    assert "pw" not in message


def test_the_get_form_works_on_a_get_site(plugin: Plugin) -> None:
    plugin.path_site = False
    binding = fetch_manifest(plugin.url + GET_FORM, 333333, SECRET, site="district")
    assert binding == fixture_binding(333333)


def test_an_unsigned_json_reply_is_a_permanent_signature_error(plugin: Plugin) -> None:
    plugin.unsigned = True
    with pytest.raises(ManifestSignatureError, match=r"unsigned.*check plugin_url") as info:
        fetch_manifest(plugin.url + PATH_FORM, 333333, SECRET)
    assert isinstance(info.value, PermanentError)
    assert isinstance(info.value, SignatureError)


def test_the_daemon_records_a_wrong_plugin_url_per_survey(world: World) -> None:
    world.write_config([333333], plugin_url=world.plugin.url + GET_FORM)
    failed, health, fake = one_round(world)
    assert failed == 1
    assert fake.given == {}
    (survey,) = health["surveys"]
    assert survey["last_error_kind"] == "config"
    assert PATH_FORM in survey["last_error"]


# -- pingyi validate --sites ------------------------------------------------------------


def test_validate_stays_offline_without_the_flag(world: World) -> None:
    result = world.cli("validate")
    assert result.exit_code == 0, result.output
    assert world.plugin.asked == []


def test_validate_sites_with_a_good_manifest(world: World) -> None:
    world.write_config([333333])
    result = world.cli("validate", "--sites")
    assert result.exit_code == 0, result.output
    assert world.plugin.asked == [333333]
    assert "plugin: 1 survey asked on 1 site" in result.output
    # valid, with the catalogue's warnings (attitude has no weight for citizens)
    assert "district survey 333333 (plugin): warning: ratings[1].subquestions.SQ001" in (
        result.output
    )


def test_validate_sites_with_a_bad_manifest(world: World) -> None:
    world.write_config([111111, 222222, 333333, 555555])
    result = world.cli("validate", "--plugin")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    bad = [line for line in lines if line.startswith("district survey 222222 (plugin): ")]
    assert bad, result.output
    assert "unit.unit: unknown unit 'U0101'" in bad[0]
    assert PLUGIN_FIX in bad[0]
    (missing,) = [line for line in lines if "survey 555555" in line]
    assert "not enabled" in missing
    (differs,) = [line for line in lines if "survey 111111" in line]
    assert "warning" in differs
    assert "citizens_111111.yaml:10" in differs
    assert "2 errors" in result.output


def test_validate_sites_needs_the_secret(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    result = world.cli("validate", "--sites")
    assert result.exit_code != 0
    assert SECRET_ENV in result.output
    assert world.plugin.asked == []


def test_validate_sites_against_the_php_endpoint(
    world: World,
    php_endpoint: str,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, PHP_SECRET.decode())
    world.write_config([111111, 444444], plugin_url=php_endpoint)
    result = world.cli("validate", "--sites")
    assert result.exit_code == 1, result.output
    (invalid,) = [line for line in result.output.splitlines() if "survey 444444" in line]
    assert invalid.startswith("district survey 444444 (plugin): ")
    assert "未指定评议维度" in invalid
    (differs,) = [line for line in result.output.splitlines() if "survey 111111" in line]
    assert "warning" in differs
    assert "unit.code_map" in differs


# -- a real pass with a plugin binding ------------------------------------------------------


def test_resync_stores_responses_mapped_with_the_plugins_binding(world: World) -> None:
    """The whole way: no YAML file for 111111, the plugin serves its binding, the real
    pass reads the LimeSurvey double and stores the responses."""
    yaml_file = world.mappings / "surveys" / "citizens_111111.yaml"
    yaml = catalogue_mod.load_catalogue(world.mappings).bindings[("district", 111111)]
    yaml_file.unlink()
    world.plugin.documents[111111] = json.dumps(
        {**yaml.model_dump(mode="json"), "source": "plugin"}, ensure_ascii=False
    ).encode()
    double = LimeSurveyDouble(users={"sync": "pw"})
    double.add_survey(satisfaction_survey(111111))
    double.load_responses(111111, list(satisfaction_rows(30, seed=5, incomplete=0.0)))
    with double.serve() as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PINGYI_TEST_UNUSED_PASSWORD", "pw")
        world.write_config([111111])
        world.config.write_text(
            world.config.read_text(encoding="utf-8").replace(
                "http://127.0.0.1:9/index.php/admin/remotecontrol", url
            ),
            encoding="utf-8",
        )
        result = world.cli("resync", "--survey", "111111", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["results"]
    assert entry["ok"] is True
    assert entry["inserted"] + entry["quarantined"] == 30
    assert entry["inserted"] > 20, entry  # the code_map came through the plugin
    engine = world.engine()
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).select_from(Response).where(Response.survey_id == 111111)
            ).scalar_one()
            source = conn.execute(
                sa.select(SurveyBinding.source).where(SurveyBinding.survey_id == 111111)
            ).scalar_one()
    finally:
        engine.dispose()
    assert stored == entry["inserted"]
    assert source == "plugin"
    assert world.plugin.count(111111) == 1


def test_a_failed_manifest_is_asked_again_soon_a_good_one_once_per_interval(
    tmp_path: Path,
) -> None:
    """Seen on a real LimeSurvey: the daemon asked before the admin had set the plugin's
    secret, and a webhook a minute later, after the fix, still failed with the old error
    (the failure was kept for the whole polling interval). A failure now stands for at
    most ``FAILURE_TTL`` seconds; a binding for the interval."""
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    with_dimension(mappings, "attitude", "服务态度")  # the fixture survey rates it
    catalogue = catalogue_mod.load_catalogue(mappings)
    good = Binding.model_validate_json((FIXTURES / SERVED[111111]).read_bytes())
    answers: list[Any] = [PermanentError("the Pingyi plugin has no shared secret"), good]
    asked: list[int] = []

    def fetch(url: str, survey_id: int, secret: bytes, **kw: Any) -> Binding:
        asked.append(survey_id)
        answer = answers[min(len(asked), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return cast(Binding, answer)

    now = [1000.0]
    bindings = PluginBindings(
        catalogue, mappings, b"secret", ttl=3600.0, clock=lambda: now[0], fetch=fetch
    )
    site = SiteConfig(name="district", url="http://ls/", user="u", plugin_url="http://ls/m")
    with pytest.raises(PermanentError, match="no shared secret"):
        bindings.binding(site, 111111)
    now[0] += FAILURE_TTL - 1
    with pytest.raises(PermanentError, match="no shared secret"):
        bindings.binding(site, 111111)  # a webhook right after: not asked again
    assert len(asked) == 1
    now[0] += 2
    assert bindings.binding(site, 111111) == good  # the fix is seen
    now[0] += 3000
    assert bindings.binding(site, 111111) == good
    assert len(asked) == 2  # a good binding is kept for the interval
