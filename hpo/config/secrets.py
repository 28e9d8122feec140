"""Secrets: only values known to be secret are masked, so nothing typed as a path is altered.

A run's secrets live apart from its config, where every library already looks for them:
the judge's API key in the environment variable `judge.api_key_env` names, a tracking server's
password in MLflow's `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`, s3 keys in
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`. A secret typed into a value anyway is known by
its place, never by its look:
  - a URL's password (`scheme://user:PASS@host`; the password may hold `@` or `/`), or the
    user part of an http(s) URL with no password (`https://TOKEN@host`);
  - a URL query parameter named like a secret (`?secret_key=...`, `?token=...`);
  - the value of a key named like a secret (`api_key`, `hub_token`, `password`): not
    `tokenizer`, `max_new_tokens` (a count) or `bogus_key`; `api_key_env` holds a variable's
    name and is masked only when its value cannot be one (a key pasted in its place).
Such a value is masked (`***`) in everything a run writes (config.yaml, MLflow, Ray's state,
logs); trials get it out of band (`secret_values`), and a resume asks for it again.
Free text (log lines, error messages) is also searched for `Authorization:` headers, `Bearer`
tokens, `password=`-style assignments and well-known token shapes standing alone (never as
part of a path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
# The last word of a key that names a secret (after `_`, `-`, `.` or at the start).
_SECRET_WORD = (r"(?:api[_-]?key|(?:secret|access|private)[_-]?(?:access[_-]?)?key|secret|token|passw(?:or)?d"
                r"|pass|pwd|credentials?|authorization|signature)")
SECRET_NAME = re.compile(rf"(?:^|[_.-]){_SECRET_WORD}$", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NUMBER = re.compile(r"^[0-9.eE+-]+$")
# Words that stand for a value in help and error text (`--set expects key=value`), not secrets.
PLACEHOLDERS = frozenset({"value", "none", "null", "true", "false", "unset", MASK})
_SCHEME = r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)"
# user:password@ -- greedy to the token's last `@`, so a password holding `@` or `/` is covered
# (but not past `,scheme://`: `a,b` lists of URLs).
URL_PASSWORD = re.compile(_SCHEME + r"(?P<user>[^\s/:@'\"<>]*):(?P<pw>(?:(?!,[A-Za-z][\w+.-]*://)[^\s'\"<>])+)@")
URL_TOKEN_USER = re.compile(r"(?P<scheme>\bhttps?://)(?P<user>[^\s/:@'\"<>]+)@")
AUTH_HEADER = re.compile(r"(?P<k>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
                         r"(?P<v>[^\s\"',]+)", re.IGNORECASE)
BEARER = re.compile(r"(?P<k>\bbearer\s+)(?P<v>[A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
# `password=...`, `secret_key: ...`, `"token": "..."` inside free text.
TEXT_ASSIGN = re.compile(rf"(?P<k>(?<![\w.-])(?:[\w.-]*[_.-])?{_SECRET_WORD}[\"']?\s*[=:]\s*[\"']?)"
                         r"(?P<v>[^\s\"',&;}]+)", re.IGNORECASE)
# Well-known token shapes, standing alone (not inside a path or a longer word).
TOKEN_SHAPES = re.compile(
    r"(?<![\w/.-])(?:sk-(?:proj-)?(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}"
    r"|hf_(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[A-Z0-9]{16})(?![\w/.-])")


def is_secret_name(name: str) -> bool:
    """A config/param key whose string value must not be written (see module doc)."""
    return bool(SECRET_NAME.search(name.rsplit(".", 1)[-1]))


def _mask_userinfo(text: str) -> str:
    text = URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return URL_TOKEN_USER.sub(lambda m: m.group(0) if m["user"] == MASK else f"{m['scheme']}{MASK}@", text)


def redact_url(url: str) -> str:
    """The URL with its password (or token user) and secret-named query values masked."""
    text = _mask_userinfo(url)
    if "?" not in text or "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return text
    if not any(is_secret_name(k) for k, _ in pairs):
        return text
    query = [(k, MASK if is_secret_name(k) else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without `user:password@`, user, password), for a client that can take its
    credentials apart from the URL, so nothing it prints or raises carries them."""
    m = URL_PASSWORD.match(url)
    if m is None:
        return url, None, None
    return m["scheme"] + url[m.end():], unquote(m["user"]), unquote(m["pw"])


def redact_text(text: str) -> str:
    """Free text (a log line, an error message) with every recognisable secret masked."""
    text = _mask_userinfo(str(text))
    text = AUTH_HEADER.sub(_mask_assignment, text)
    text = BEARER.sub(_mask_assignment, text)
    text = TEXT_ASSIGN.sub(_mask_assignment, text)
    return TOKEN_SHAPES.sub(MASK, text)


def _mask_assignment(m: re.Match[str]) -> str:
    if NUMBER.match(m["v"]) or m["v"].lower() in PLACEHOLDERS:
        return m.group(0)  # `token: 5`, `--set expects password=value`
    return f"{m['k']}{MASK}"


def redact_value(key: str, value: Any) -> Any:
    """One config value, judged by its key and, for a URL, by its parts (see module doc)."""
    if not isinstance(value, str) or not value:
        return value
    leaf = key.rsplit(".", 1)[-1]
    if leaf.lower().endswith("_env") and is_secret_name(leaf[:-4]):
        return value if ENV_NAME.match(value) else MASK  # a variable's name, or a pasted key
    if is_secret_name(leaf):
        return MASK
    return redact_url(value) if "://" in value else value


def redact(data: Any, key: str = "") -> Any:
    """A deep copy of a config mapping (or list, or value) with every secret masked."""
    if isinstance(data, Mapping):
        return {k: redact(v, str(k)) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact(v, key) for v in data]
    return redact_value(key, data)


def secret_values(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> live value, for each value `redact` changes: what a trial is handed out of
    band (never in its config) and what a resume must be given again."""
    if isinstance(data, Mapping):
        return {p: v for k, sub in data.items() for p, v in secret_values(sub, f"{prefix}{k}.").items()}
    key = prefix.rstrip(".")
    return {key: data} if redact(data, key.rsplit(".", 1)[-1]) != data else {}


def redacted_paths(original: Any) -> list[str]:
    """Dotted keys whose value `redact` changes (what a resume must be given again)."""
    return list(secret_values(original))


def contains_mask(value: Any) -> bool:
    """A value (or list of values) that went through `redact` and lost a secret."""
    if isinstance(value, (list, tuple)):
        return any(contains_mask(v) for v in value)
    return isinstance(value, str) and MASK in value


def has_credentials(uri: str) -> bool:
    """A URI that carries a password or a secret-named query parameter."""
    return redact_url(uri) != uri
