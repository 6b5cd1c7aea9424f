"""The daemon's side of the plugin manifest: ask LimeSurvey's Pingyi plugin for the binding
document of one survey, signed both ways.

The endpoint (``newUnsecureRequest``) has no login, so the request carries
``sid``, ``ts`` and ``sig = sign(secret, ts, "sid=<sid>&ts=<ts>")`` (the plugin rebuilds
that canonical string from the parsed parameters, so LimeSurvey's own routing parameters
do not matter), and the reply is signed over its exact body with the
``X-Pingyi-Timestamp``/``X-Pingyi-Signature`` headers. A reply that is not signed by
the shared secret, or is older than the replay window, is never used.

``plugin_url`` is the endpoint as an admin copies it, in either URL form LimeSurvey knows:
``<site>/index.php/plugins/unsecure/plugin/Pingyi/function/manifest`` or
``<site>/index.php?r=plugins/unsecure&plugin=Pingyi&function=manifest``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from pydantic import ValidationError

from sync.bindings import Binding
from sync.errors import ConfigError, InputError, Location, PermanentError, TransientError
from sync.signing import (
    DEFAULT_REPLAY_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    verify,
)
from sync.yamlsource import loc_key

#: a binding of a few hundred questions is a few kB; anything near this is not a manifest
MAX_BODY_BYTES = 2 * 1024 * 1024
DEFAULT_TIMEOUT = (5.0, 30.0)
PATH_FORM = "/plugins/unsecure/plugin/Pingyi/function/manifest"
GET_FORM = "r=plugins/unsecure&plugin=Pingyi&function=manifest"


class ManifestSignatureError(PermanentError, SignatureError):
    """The plugin's reply is unsigned, signed with another secret, or stale: a
    ``PermanentError`` for the daemon (this survey's binding is not used), still a
    ``SignatureError`` for callers that check the signature itself."""


class ManifestNotFound(PermanentError):
    """The plugin does not serve this survey (unknown, or Pingyi not enabled for it)."""


class PluginUrlError(ConfigError):
    """``plugin_url`` answers, but not as the Pingyi plugin: the URL is probably wrong."""


def canonical_query(survey_id: int, timestamp: int) -> str:
    """What the request signature covers (``Signer::canonicalQuery`` in the plugin)."""
    return f"sid={survey_id}&ts={timestamp}"


def manifest_request_url(plugin_url: str, survey_id: int, secret: bytes, timestamp: int) -> str:
    """``plugin_url`` with ``sid``, ``ts`` and ``sig`` added to whatever query it has."""
    parts = urlsplit(plugin_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PermanentError(f"plugin_url must be an http(s) URL, got {plugin_url!r}")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("sid", "ts", "sig")]
    signature = sign(secret, timestamp, canonical_query(survey_id, timestamp).encode("ascii"))
    query += [("sid", str(survey_id)), ("ts", str(timestamp)), ("sig", signature)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def fetch_manifest(
    plugin_url: str,
    survey_id: int,
    secret: bytes,
    *,
    http: requests.Session | None = None,
    site: str | None = None,
    now: float | None = None,
    replay_seconds: int = DEFAULT_REPLAY_SECONDS,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Binding:
    """The plugin's binding for ``survey_id`` (``source="plugin"``).

    Raises ``TransientError`` (network, 5xx: try again later), ``ManifestSignatureError``
    (a ``PermanentError`` and a ``SignatureError``: the reply is unsigned, signed with
    another secret, or outside the replay window), ``PluginUrlError`` (a ``ConfigError``:
    an unsigned web page came back, so ``plugin_url`` is not the plugin's endpoint),
    ``PermanentError`` (the plugin refused the request or does not know the survey) and
    ``InputError`` (the designer's settings are invalid, or the document does not match
    the binding schema; the message lists the problems the plugin reported).
    """
    current = time.time() if now is None else now
    url = manifest_request_url(plugin_url, survey_id, secret, int(current))
    where = Location(key=f"plugin manifest of survey {survey_id}", survey_id=survey_id)
    session = http or requests.Session()
    try:
        # the URL carries only sid/ts/sig; no secret to keep out of logs
        reply = session.get(url, timeout=timeout, allow_redirects=False, stream=True)
        body = _read_capped(reply)
    except requests.RequestException as exc:
        raise TransientError(
            f"plugin manifest of survey {survey_id}: {type(exc).__name__}"
        ) from None
    finally:
        if http is None:
            session.close()
    status = reply.status_code
    signed = bool(reply.headers.get(TIMESTAMP_HEADER) and reply.headers.get(SIGNATURE_HEADER))
    if not signed and _looks_like_html(body):
        # LimeSurvey's own pages (home page, login, error page) are HTML, never signed
        raise PluginUrlError(wrong_url_message(plugin_url, status))
    if not signed and not body.strip():
        # LimeSurvey 6.2.1 answers its plugin route with an empty page when no active
        # plugin of that name is there (seen on the real site with the plugin not installed)
        raise PluginUrlError(
            f"plugin_url {_shown(plugin_url)} answered with an empty page (HTTP {status}, not "
            "signed): LimeSurvey has no active plugin of that name. Check that the Pingyi "
            "plugin is installed and active (Configuration > Plugins) and that plugin_url "
            "names it"
        )
    if status == 503 and b"plugin not configured" in body:
        raise PermanentError(
            f"plugin manifest of survey {survey_id}: the Pingyi plugin has no shared secret "
            "(set it in LimeSurvey: Configuration > Plugins > Pingyi > Configure)"
        )
    if status >= 500:
        raise TransientError(f"plugin manifest of survey {survey_id}: HTTP {status}")
    if status != 200:
        raise _refusal(status, body, survey_id, where)
    try:
        verify(
            secret,
            reply.headers.get(TIMESTAMP_HEADER),
            reply.headers.get(SIGNATURE_HEADER),
            body,
            now=current,
            replay_seconds=replay_seconds,
        )
    except SignatureError as exc:
        hint = (
            "; check plugin_url: the plugin signs every reply"
            if not signed
            else "; check that the plugin and the daemon share the secret and the clocks agree"
        )
        raise ManifestSignatureError(
            f"plugin manifest of survey {survey_id}: {exc}{hint}"
        ) from None
    data = _json_object(body, where)
    try:
        binding = Binding.model_validate({**data, "source": "plugin"})
    except ValidationError as exc:
        details = "; ".join(
            f"{loc_key(err['loc']) or '(document)'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise InputError(
            where,
            f"the plugin's manifest does not match the binding schema: {details}",
            "update the Pingyi plugin to the version that matches this daemon",
        ) from None
    if binding.survey_id != survey_id:
        raise InputError(where, f"the plugin answered for survey {binding.survey_id}")
    if site is not None and binding.site != site:
        raise InputError(
            where,
            f"the plugin calls its site {binding.site!r}, pingyi.toml calls it {site!r}",
            "set the same site name in the plugin's settings and in pingyi.toml",
        )
    return binding


def _looks_like_html(body: bytes) -> bool:
    # by the body, not Content-Type: PHP sends text/html unless told otherwise
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _shown(plugin_url: str) -> str:
    """``plugin_url`` as a message may show it: never a user:password@ part."""
    parts = urlsplit(plugin_url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def wrong_url_message(plugin_url: str, status: int) -> str:
    """What to tell the admin when ``plugin_url`` answers with a web page: the URL form
    to use instead (the path form on the usual ``urlFormat=path`` site)."""
    parts = urlsplit(plugin_url)
    netloc = parts.netloc.rpartition("@")[2]  # never show a user:password@ part
    query = dict(parse_qsl(parts.query))
    index = parts.path if parts.path.endswith("index.php") else None
    if index is None and "/index.php" in parts.path:
        index = parts.path[: parts.path.index("/index.php") + len("/index.php")]
    base = urlunsplit((parts.scheme, netloc, index or "/index.php", "", ""))
    shown = _shown(plugin_url)
    path_form = base + PATH_FORM
    get_form = f"{base}?{GET_FORM}"
    if query.get("r", "").startswith("plugins/"):
        advice = (
            f"The index.php?r=... form works only on a LimeSurvey whose urlFormat is 'get'; "
            f"a site with urlFormat 'path' (the default) ignores r= and shows its home page. "
            f'Set plugin_url = "{path_form}"'
        )
    else:
        advice = (
            f"Check that the Pingyi plugin is installed and active; on a LimeSurvey whose "
            f'urlFormat is \'get\' use plugin_url = "{get_form}", otherwise "{path_form}"'
        )
    return (
        f"plugin_url {shown} answered with an HTML page (HTTP {status}, not signed), not the "
        f"Pingyi plugin's manifest: the URL is probably wrong. {advice} "
        "(the form the site's own links use)"
    )


def _read_capped(reply: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in reply.iter_content(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            reply.close()
            raise PermanentError(f"plugin manifest larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes, where: Location) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(where, "the plugin's manifest is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise InputError(where, "the plugin's manifest is not a JSON object")
    return data


def _refusal(status: int, body: bytes, survey_id: int, where: Location) -> Exception:
    """The plugin said no; its JSON says why (never trusted beyond being shown)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    reason = str(data.get("error") or f"HTTP {status}")[:500]
    if status == 422:
        problems = data.get("problems")
        lines = []
        for p in problems if isinstance(problems, list) else []:
            if isinstance(p, dict) and p.get("severity") == "error":
                message = p.get("message")
                text = message.get("zh") if isinstance(message, dict) else None
                lines.append(str(text or p.get("code")))
        detail = f": {'; '.join(lines)}" if lines else ""
        return InputError(
            where,
            f"{reason}{detail}",
            "fix the survey's Pingyi settings in LimeSurvey (the survey settings list them)",
        )
    if status == 403:
        return PermanentError(
            f"plugin refused the manifest request for survey {survey_id}: {reason} "
            "(check that the plugin and pingyi.toml share the secret and the clocks agree)"
        )
    if status == 404:
        return ManifestNotFound(
            f"plugin manifest of survey {survey_id}: {reason} (the survey does not exist, or "
            "Pingyi is not enabled in its survey settings)"
        )
    return PermanentError(f"plugin manifest of survey {survey_id}: {reason}")


__all__ = [
    "ManifestNotFound",
    "ManifestSignatureError",
    "PluginUrlError",
    "SignatureError",
    "canonical_query",
    "fetch_manifest",
    "manifest_request_url",
    "wrong_url_message",
]
