"""``pingyi.toml``: where things are and how the daemon behaves.

Found by ``--config PATH``, else ``$PINGYI_CONFIG``, else ``./pingyi.toml``, else the
embedded defaults (SQLite ``pingyi.db``, the ``mappings/`` folder beside the working
directory). ``$PINGYI_DATABASE_URL`` overrides the database URL whatever the source.

Secrets (the LimeSurvey password, the webhook secret, the token-hash key) are never
written in the file or given on the command line: the file names an environment variable
(``*_env``) or a file (``*_file``) that holds them, and they are read only when used.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sync.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///pingyi.db"
ENV_CONFIG = "PINGYI_CONFIG"
ENV_DATABASE_URL = "PINGYI_DATABASE_URL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (first line, stripped)."""

    env: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        """Says where the secret comes from, never what it is."""
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"file {self.file}"
        return "nowhere (not configured)"

    def reveal(self) -> SecretStr:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"secret not set: {self.describe()} is empty or missing")
            return SecretStr(value)
        if self.file:
            try:
                text = self.file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"secret unreadable: {self.describe()}: {exc.strerror}") from None
            return SecretStr(text.strip())
        raise ConfigError("secret not configured: give password_env or password_file")

    @property
    def configured(self) -> bool:
        return bool(self.env or self.file)


#: a site's timezone unless its config says otherwise: the district's
DEFAULT_TIMEZONE = "Asia/Shanghai"


class SiteConfig(_Strict):
    """One LimeSurvey installation."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    url: str  # .../index.php/admin/remotecontrol
    user: str
    password: SecretRef = SecretRef()
    timezone: str = DEFAULT_TIMEZONE
    #: survey ids to sync; empty means every survey bound in mappings/ for this site
    surveys: tuple[int, ...] = ()
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    #: after a refused login, wait this long before one new attempt (unless config changes)
    login_backoff_seconds: float = 3600.0
    window: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: the manifest endpoint of the Pingyi plugin on this site, if installed
    plugin_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseConfig(_Strict):
    url: str = DEFAULT_DATABASE_URL
    #: a schema (PostgreSQL) or database (MariaDB) to hold Pingyi's tables; none = default
    schema_: Annotated[str | None, Field(alias="schema")] = None


class DaemonConfig(_Strict):
    interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    jitter_seconds: Annotated[float, Field(ge=0)] = 10.0
    #: host:port for /healthz, /metrics and the completion webhook
    listen: str = "127.0.0.1:8765"
    webhook_secret: SecretRef = SecretRef(env="PINGYI_WEBHOOK_SECRET")
    webhook_max_body: int = 16_384
    webhook_replay_seconds: int = 300
    log_format: Literal["text", "json"] = "text"
    #: keyed hash for tokens kept for duplicate detection
    token_hash_key: SecretRef = SecretRef(env="PINGYI_TOKEN_KEY")
    #: an incomplete response not completed after this many days stops being re-read
    pending_max_age_days: float = 30.0


class Config(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    daemon: DaemonConfig = DaemonConfig()
    mappings: Path = Path("mappings")
    sites: tuple[SiteConfig, ...] = ()
    #: where this config came from, for `doctor` and error messages
    source: str = "embedded defaults"

    def site(self, name: str) -> SiteConfig:
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites) or "none"
        raise ConfigError(f"no site named {name!r} in {self.source} (known: {known})")

    @property
    def database_url(self) -> str:
        return self.database.url


def _find(path: Path | None) -> Path | None:
    if path is not None:
        return path
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = Path("pingyi.toml")
    return local if local.is_file() else None


def _secret_refs(table: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    """``password_env = "X"`` / ``password_file = "f"`` in TOML -> ``password = {env: X}``."""
    out = dict(table)
    for name in names:
        ref: dict[str, object] = {}
        if f"{name}_env" in out:
            ref["env"] = out.pop(f"{name}_env")
        if f"{name}_file" in out:
            ref["file"] = out.pop(f"{name}_file")
        if name in out:
            raise ConfigError(
                f"{name!r} must not be written in the config: use {name}_env or {name}_file"
            )
        if ref:
            out[name] = ref
    return out


def load(path: Path | None = None) -> Config:
    """Read the config (see module doc for the search order) and apply overrides."""
    found = _find(path)
    raw: dict[str, object] = {}
    source = "embedded defaults"
    if found is not None:
        try:
            raw = tomllib.loads(found.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {found}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{found}: not valid TOML: {exc}") from None
        source = str(found)
        base = found.parent
        if "mappings" in raw and not Path(str(raw["mappings"])).is_absolute():
            raw["mappings"] = str(base / str(raw["mappings"]))
    sites = raw.get("sites", [])
    if isinstance(sites, list):
        raw["sites"] = [_secret_refs(s, ("password",)) for s in sites if isinstance(s, dict)]
    daemon = raw.get("daemon")
    if isinstance(daemon, dict):
        raw["daemon"] = _secret_refs(daemon, ("webhook_secret", "token_hash_key"))
    override = os.environ.get(ENV_DATABASE_URL)
    if override:
        database = dict(raw.get("database", {}) or {})  # type: ignore[call-overload]
        database["url"] = override
        raw["database"] = database
    raw["source"] = source
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None
