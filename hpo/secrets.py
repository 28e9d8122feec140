"""Secret redaction: what a run writes or logs never carries credentials.

Three kinds of secret are recognised, wherever a value goes (config.yaml, Ray's experiment
state, MLflow params and tags, reports, log lines, error messages):
  - credentials in a URL (`http://user:pass@host` keeps the user, drops the password; a
    query parameter named like a secret, `?token=...`, is masked);
  - the value of a key named like a secret (`*key*`, `*token*`, `*secret*`, `*password*`),
    for string values: `max_new_tokens: 16` is a count, not a secret;
  - well-known token shapes anywhere (`sk-...`, `hf_...`, `ghp_...`, `xoxb-...`, `AKIA...`).
Keys that *name* where a secret lives (`api_key_env: HPO_JUDGE_API_KEY`) are kept when their
value is an environment-variable name, so a resumed run still finds its key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_NAME = re.compile(r"key|token|secret|passw(or)?d|credential|authorization", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NUMBER = re.compile(r"^[0-9.eE+-]+$")
# Words that stand for a value in help and error text (`--set expects key=value`), not secrets.
PLACEHOLDERS = frozenset({"value", "none", "null", "true", "false", "unset"})
# A secret name whose value is a pointer to the secret, not the secret (e.g. an env var name).
POINTER_SUFFIXES = ("_env", "_file", "_path")
# Known token shapes (OpenAI, Hugging Face, GitHub, Slack, AWS access key ids).
TOKEN_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{8,}"
                          r"|github_pat_[A-Za-z0-9_]{8,}|xox[abprs]-[A-Za-z0-9-]{8,}|AKIA[A-Z0-9]{12,})")
URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")
# `password=...`, `api_key: ...`, `"token": "..."` inside free text (log lines, messages).
TEXT_ASSIGN = re.compile(r"(?P<k>\b[\w.-]*(?:key|token|secret|passw(?:or)?d)[\w.-]*[\"']?\s*[=:]\s*[\"']?)"
                         r"(?P<v>[^\s\"',&}]+)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """A config/param key whose string value must not be written (see module doc)."""
    return bool(SECRET_NAME.search(name.rsplit(".", 1)[-1]))


def redact_url(url: str) -> str:
    """The URL with its password and secret-named query values masked; other text unchanged."""
    text = URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    if "?" not in text or "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        query = [(k, MASK if is_secret_name(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return text
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def redact_text(text: str) -> str:
    """Free text (a log line, an error message) with every recognisable secret masked."""
    text = URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", str(text))
    text = TOKEN_SHAPES.sub(MASK, text)
    return TEXT_ASSIGN.sub(_mask_assignment, text)


def _mask_assignment(m: re.Match[str]) -> str:
    key = m["k"].rstrip("\"': =").lower()
    if NUMBER.match(m["v"]) or m["v"].lower() in PLACEHOLDERS or (
            key.endswith(POINTER_SUFFIXES) and ENV_NAME.match(m["v"])):
        return m.group(0)  # `max_new_tokens=16`, `api_key_env=HPO_JUDGE_API_KEY`
    return f"{m['k']}{MASK}"


def redact_value(key: str, value: Any) -> Any:
    """One config value, judged by its key and its shape."""
    if not isinstance(value, str):
        return value
    if is_secret_name(key):
        pointer = key.lower().endswith(POINTER_SUFFIXES) and ENV_NAME.match(value)
        if not pointer and value:
            return MASK
    return TOKEN_SHAPES.sub(MASK, redact_url(value))


def redact(data: Any, key: str = "") -> Any:
    """A deep copy of a config mapping (or list, or value) with every secret masked."""
    if isinstance(data, Mapping):
        return {k: redact(v, str(k)) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact(v, key) for v in data]
    return redact_value(key, data)


def redacted_paths(original: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value `redact` changes (what a resume must be given again)."""
    if isinstance(original, Mapping):
        return [p for k, v in original.items() for p in redacted_paths(v, f"{prefix}{k}.")]
    changed = redact(original, prefix.rstrip(".").rsplit(".", 1)[-1]) != original
    return [prefix.rstrip(".")] if changed else []


def contains_mask(value: Any) -> bool:
    """A value that went through `redact` and lost a secret (cannot be used as is)."""
    return isinstance(value, str) and MASK in value
