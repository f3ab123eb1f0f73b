"""The values of `{{ secrets.NAME }}`, put into an action's config inside the activity, at the
last moment, and masked in what the activity returns or raises.

Where values come from:
- SECRETS_FILE, a JSON object: `{"NAME": "value"}`, or `{"NAME": {"value": "...", "hosts":
  ["api.github.com", "*.example.com"]}}` to bind a secret to the hosts it may be sent to;
- environment variables `AGENTIC_SECRET_<NAME>` (bound with `AGENTIC_SECRET_<NAME>_HOSTS`, a
  comma-separated list). No other variable is reachable from a plan.

A bound secret is refused for any other destination, and for actions that send nothing to a
host (file_operation, data_transform, ...). A value shorter than 4 characters is not masked.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from agentic.core.errors import ActionError, ErrorType
from agentic.core.network import AllowRule, parse_rules
from agentic.core.secrets import SECRET_REFERENCE, secret_names, secret_reference_count

ENV_PREFIX = "AGENTIC_SECRET_"
HOSTS_SUFFIX = "_HOSTS"
MIN_MASKED_CHARS = 4


@dataclass(frozen=True)
class Secret:
    """A secret's value and, when bound, the hosts it may be sent to."""

    value: str
    hosts: tuple[AllowRule, ...] = ()

    def may_go_to(self, destinations: list[tuple[str, int]]) -> bool:
        """True when the secret is not bound, or every destination is one of its hosts."""
        if not self.hosts:
            return True
        return bool(destinations) and all(self._allows(host, port) for host, port in destinations)

    def _allows(self, host: str, port: int) -> bool:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return any(rule.allows_name(host, port) for rule in self.hosts)
        return any(rule.allows_address(address, port) for rule in self.hosts)


class SecretStore:
    """The worker's secrets, by name."""

    def __init__(self, secrets: Mapping[str, Secret] | None = None) -> None:
        self._secrets = dict(secrets or {})
        self._replacements = _replacements(self._secrets)  # what masking looks for, once

    @classmethod
    def load(
        cls, secrets_file: Path | None, environ: Mapping[str, str] = os.environ
    ) -> SecretStore:
        """The secrets of SECRETS_FILE and of AGENTIC_SECRET_* variables; a ValueError says what
        is wrong with the file."""
        secrets = _from_file(secrets_file) if secrets_file else {}
        for key, value in environ.items():
            if key.startswith(ENV_PREFIX) and not key.endswith(HOSTS_SUFFIX):
                hosts = environ.get(key + HOSTS_SUFFIX, "").split(",")
                secrets[key.removeprefix(ENV_PREFIX)] = Secret(value, parse_rules(hosts))
        return cls(secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def masker(self) -> Masker:
        """A masker of every secret, for a task that used none (what it returns may still
        echo one that another task wrote somewhere)."""
        return Masker({}, self._replacements)

    def fill(
        self, config: dict[str, Any], planned_references: int | None = None
    ) -> tuple[dict[str, Any], Masker]:
        """The config with every secret's value in place, and the masker of every secret.
        A missing secret fails the task at once, naming it (never a value). With
        `planned_references` (how many secret references the plan's own config holds), a
        config holding more got them from an upstream output, and is refused: only the plan
        names secrets."""
        found = secret_reference_count(config)
        if planned_references is not None and found > planned_references:
            raise ActionError(
                "an upstream task's output put a secret reference ({{ secrets.NAME }}) into this "
                "task's config: only the plan may name secrets, so it is not filled in",
                ErrorType.SECRET_NOT_ALLOWED,
                retryable=False,
            )
        names = secret_names(config)
        missing = sorted(name for name in names if name not in self._secrets)
        if missing:
            raise ActionError(
                f"secret {', '.join(missing)} is not set: add it to the SECRETS_FILE, or set "
                f"{ENV_PREFIX}{missing[0]} for the worker",
                ErrorType.SECRET_NOT_FOUND,
                retryable=False,
            )
        used = {name: self._secrets[name] for name in names}
        return _filled(config, used), Masker(used, self._replacements)


class Masker:
    """Checks where the secrets a task used go, and hides every secret's value (in the
    common encodings too) in what the task returns or raises."""

    def __init__(
        self, used: Mapping[str, Secret], replacements: list[tuple[str, str]] | None = None
    ) -> None:
        self._used = dict(used)
        self._replacements = replacements if replacements is not None else _replacements(used)

    @property
    def used(self) -> bool:
        """True when the task used a secret."""
        return bool(self._used)

    def check(self, destinations: list[tuple[str, int]], action_type: str) -> None:
        """Refuse to send a bound secret anywhere but its hosts."""
        for name, secret in self._used.items():
            if not secret.may_go_to(destinations):
                where = ", ".join(f"{host}:{port}" for host, port in destinations) or (
                    f"a {action_type} (which sends to no host)"
                )
                allowed = ", ".join(str(rule) for rule in secret.hosts)
                raise ActionError(
                    f"secret {name} may only be sent to {allowed}, not to {where}",
                    ErrorType.SECRET_NOT_ALLOWED,
                    retryable=False,
                )

    def mask(self, value: Any) -> Any:
        """`value` with every secret's value (and its URL, JSON and base64 encodings) replaced
        by `[secret NAME]`, in keys too."""
        if not self._replacements:
            return value
        if isinstance(value, str):
            for text, name in self._replacements:
                if text in value:
                    value = value.replace(text, f"[secret {name}]")
            return value
        if isinstance(value, Mapping):
            return {self.mask(key): self.mask(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask(item) for item in value]
        return value


def _replacements(secrets: Mapping[str, Secret]) -> list[tuple[str, str]]:
    """(text, name) for each secret's value and its encodings, longest first."""
    found: dict[str, str] = {}
    for name, secret in secrets.items():
        if len(secret.value) < MIN_MASKED_CHARS:
            continue
        encoded = secret.value.encode()
        for text in (
            secret.value,
            quote(secret.value, safe=""),
            quote_plus(secret.value),
            json.dumps(secret.value)[1:-1],
            json.dumps(secret.value)[1:-1].replace("/", "\\/"),
            base64.b64encode(encoded).decode().rstrip("="),
            base64.urlsafe_b64encode(encoded).decode().rstrip("="),
        ):
            found.setdefault(text, name)
    return sorted(found.items(), key=lambda item: -len(item[0]))


def _filled(value: Any, used: Mapping[str, Secret]) -> Any:
    if isinstance(value, str):
        whole = SECRET_REFERENCE.fullmatch(value.strip())
        if whole:
            return used[whole["name"]].value
        return SECRET_REFERENCE.sub(lambda match: used[match["name"]].value, value)
    if isinstance(value, Mapping):
        return {key: _filled(item, used) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(item, used) for item in value]
    return value


def _from_file(path: Path) -> dict[str, Secret]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read SECRETS_FILE {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"SECRETS_FILE {path} must hold a JSON object of secrets by name")
    return {name: _secret(name, entry, path) for name, entry in data.items()}


def _secret(name: str, entry: Any, path: Path) -> Secret:
    if isinstance(entry, str):
        return Secret(entry)
    if isinstance(entry, dict) and isinstance(entry.get("value"), str):
        hosts: Iterable[str] = entry.get("hosts") or []
        return Secret(entry["value"], parse_rules(hosts))
    raise ValueError(
        f"SECRETS_FILE {path}: secret {name} must be a string, or an object with a string "
        '"value" and optional "hosts"'
    )
