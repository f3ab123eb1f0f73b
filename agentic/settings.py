"""Every setting of the engine, read once from environment variables.

The CLI, the worker and the activities read settings; workflow code never does (it must be
deterministic), so anything a workflow needs travels in its input.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentic.agents.endpoints import OPENAI_DEFAULT_BASE_URL, LLMEndpoint
from agentic.codec import EncryptionKeys
from agentic.core.mcp import NAME_PATTERN, McpServerSetting
from agentic.core.metrics import PRICES_HELP, ModelPrice
from agentic.core.network import AllowRule, parse_rules
from agentic.core.openapi import OpenApiServiceSetting
from agentic.logging import LogFormat

OutputModeSetting = Literal[
    "auto", "json_schema", "json_object_schema", "guided_json", "json_object", "text"
]


WORKER_ROLES = ("workflows", "actions", "llm")


class Settings(BaseSettings):
    """Engine settings. Each field is read from the environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    temporal_address: str = Field("localhost:7233", description="the Temporal frontend (host:port)")
    temporal_namespace: str = Field("default", description="the Temporal namespace")
    task_queue: str = Field("agentic-runs", description="the runs' (workflows') task queue")
    action_task_queue: str = Field(
        "", description="the actions' task queue, to scale them apart (default: TASK_QUEUE)"
    )
    llm_task_queue: str = Field(
        "", description="the planner's and analyst's task queue (default: TASK_QUEUE)"
    )
    worker_queues: str = Field(
        "workflows,actions,llm",
        description="what a worker process serves: any of workflows, actions, llm "
        "(python worker.py --queues)",
    )
    worker_processes: int = Field(
        1,
        description="worker processes on these queues, under one supervisor that restarts "
        "them and drains them on SIGTERM: a number, or auto (one per core); 1 runs the worker "
        "alone, without a supervisor (python worker.py --processes)",
    )
    temporal_api_key: str | None = Field(None, description="Temporal Cloud API key (TLS on)")
    temporal_tls: bool = Field(
        False, description="TLS to the Temporal frontend (on anyway with a key, cert or CA)"
    )
    temporal_tls_cert: Path | None = Field(None, description="client certificate (PEM), mTLS")
    temporal_tls_key: Path | None = Field(None, description="the client certificate's key")
    temporal_tls_ca: Path | None = Field(
        None,
        description="CA certificate (PEM) the server's certificate is checked against "
        "(default: the system's)",
    )
    temporal_tls_server_name: str | None = Field(
        None, description="the name the server's certificate must carry (default: the host)"
    )
    temporal_ui_url: str = Field(
        "",
        description="Base address of the Temporal Web UI, for links; default: the one `cli.py "
        "server` starts for TEMPORAL_ADDRESS (its port + 1000), or Temporal Cloud's",
    )

    openai_api_key: str | None = Field(
        None, description="the OpenAI key (or the key of the server at OPENAI_BASE_URL)"
    )
    openai_base_url: str | None = Field(
        None,
        description="any OpenAI-compatible server (vLLM, llama.cpp, Ollama); default: OpenAI's",
    )
    openai_model: str = Field(
        "gpt-4o-mini", description="the model the planner and the analyst ask"
    )
    llm_endpoints: list[LLMEndpoint] | None = Field(
        None, description="JSON list of {base_url, model, api_key_env, name}, tried in order"
    )
    llm_output_mode: OutputModeSetting = Field(
        "auto",
        description="how to ask for JSON: auto tries json_schema, json_object_schema, "
        "json_object, text in turn",
    )
    llm_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, description="seconds one LLM request may take"
    )
    llm_planner_max_tokens: int = Field(4096, ge=16, description="max_tokens of a planning request")
    llm_analyst_max_tokens: int = Field(1024, ge=16, description="max_tokens of a failure analysis")
    llm_endpoint_attempts: int = Field(
        2,
        ge=1,
        le=20,
        description="attempts on one endpoint (transient failures) before the next takes over",
    )
    llm_prices: dict[str, ModelPrice] | None = Field(
        None,
        description='JSON object of model -> {"prompt": USD, "completion": USD} per 1M tokens: '
        "overrides genai-prices' price of a model (private and self-hosted models)",
    )

    http_allow_hosts: str = Field(
        "",
        description="comma-separated hosts, *.wildcards, addresses or CIDRs (each with an "
        "optional :port) that actions may reach besides public addresses",
    )
    http_run_allow_hosts: bool = Field(
        True, description="whether a run may add hosts for itself (run option allow_hosts)"
    )
    http_max_redirects: int = Field(
        5, ge=0, le=50, description="redirects followed, each checked by the network policy"
    )
    http_max_response_bytes: int = Field(
        50_000_000, ge=1, description="the largest response body read"
    )
    secrets_file: Path | None = Field(
        None, description="JSON file of the secrets plans may name as {{ secrets.NAME }}"
    )
    workspace_dir: Path = Field(Path("workspace"), description="root of every file_operation path")
    template_dirs: str = Field(
        "",
        description="comma-separated directories of templates (plan files with params), "
        "looked in after the project's templates/ and before the engine's own",
    )
    file_max_read_bytes: int = Field(50_000_000, ge=1, description="the largest file read")
    database_url: str | None = Field(
        None, description="default database of db_query (an asyncpg URL)"
    )
    db_row_limit: int = Field(
        10_000, description="the most rows a db_query may return (more is refused, not cut)"
    )
    db_statement_timeout_seconds: float = Field(
        300.0, gt=0, description="the server stops a statement after this long"
    )

    action_modules: str = Field(
        "", description="comma-separated modules of custom actions (plug-ins) to load"
    )
    mcp_servers: dict[str, McpServerSetting] | None = Field(
        None,
        description='JSON object of name -> {"command": [...], "env": {...}} (a stdio server the '
        'worker starts) or {"url": "https://.../mcp", "headers": {...}} (streamable HTTP): each '
        "tool becomes the action mcp.<name>.<tool>",
    )
    mcp_servers_file: Path | None = Field(
        None, description="JSON file of more MCP servers, in MCP_SERVERS' form"
    )
    openapi_services: dict[str, OpenApiServiceSetting] | None = Field(
        None,
        description='JSON object of name -> {"spec": PATH_OR_URL, "base_url": "https://...", '
        '"headers": {...}} (an OpenAPI 3.0 or 3.1 document, read at start): each operation '
        "becomes the action <name>.<operationId>",
    )
    mcp_server_token: SecretStr | None = Field(
        None,
        description="the bearer token clients of `mcp-server --http` must send; required "
        "unless it is bound to loopback",
    )
    ui_token: SecretStr | None = Field(
        None,
        description="the token of the web console (`cli.py ui`); without it, a console bound to "
        "a non-loopback address makes one and prints it once",
    )
    payload_encryption_keys: SecretStr | None = Field(
        None, description="id:base64key,... (32-byte keys): payloads are encrypted with AES-GCM"
    )
    worker_max_concurrent_activities: int = Field(
        100,
        ge=1,
        description="actions (and LLM calls) one worker runs at once as activities, and as "
        "many reads as local activities",
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        16,
        ge=2,
        description="workflow tasks one worker processes at once (the others wait at the "
        "server): one process runs their code on one core, so many at once only wait in it, "
        "past WORKFLOW_TASK_TIMEOUT_SECONDS under load",
    )
    worker_deployment_name: str = Field(
        "",
        description="with WORKER_BUILD_ID: Temporal Worker Versioning, runs pinned to the "
        "build that started them",
    )
    worker_build_id: str = Field("", description="this worker's build (a version, a git sha)")
    worker_graceful_shutdown_seconds: float = Field(
        20.0,
        ge=0,
        description="on SIGTERM, actions in flight get this long to finish before they are "
        "cancelled (and retried by another worker)",
    )
    worker_workflow_task_pollers: int = Field(
        5, ge=1, le=100, description="requests one worker keeps open for workflow tasks"
    )
    worker_activity_task_pollers: int = Field(
        5, ge=1, le=100, description="requests one worker keeps open for activity tasks"
    )
    worker_max_cached_workflows: int = Field(
        1000, ge=0, description="runs a worker keeps in memory between their steps"
    )
    metrics_address: str | None = Field(
        None, description="host:port where the worker serves Prometheus metrics (/metrics)"
    )
    data_dir: Path = Field(
        Path(".data"),
        description="where `server` and `demo` keep the Temporal history and PostgreSQL "
        "data, and the default blob store",
    )
    blob_store: str = Field(
        "",
        description="where outputs too large for the history are kept: a directory, or "
        "s3://bucket/prefix (boto3's AWS_* settings; AWS_ENDPOINT_URL for a store that is not "
        "AWS); default: DATA_DIR/blobs",
    )
    blob_threshold_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=1_000_000,
        description="an output larger than this (as JSON) goes to the blob store",
    )
    log_level: str = Field(
        "INFO", description="the worker's log level (the CLI logs at WARNING unless set)"
    )
    log_format: LogFormat = Field(
        "auto", description="console, json, or auto: console on a terminal, else JSON lines"
    )

    @property
    def llm_configured(self) -> bool:
        """True when an LLM can be reached: endpoints, a key (OpenAI) or a base URL."""
        return bool(self.llm_endpoints or self.openai_api_key or self.openai_base_url)

    llm_action_types: str = Field(
        "", description="comma-separated action types plans written by the LLM may use"
    )
    run_max_tasks: int = Field(200, ge=1, description="default of the run option max_tasks")
    run_max_items: int = Field(
        10_000, ge=1, description="default of the run option max_items: rounds a loop may run"
    )
    run_max_depth: int = Field(
        3, ge=0, le=10, description="default of the run option max_depth: how deep sub-plans nest"
    )
    run_max_replans: int = Field(
        3, ge=0, le=100, description="default of the run option max_replans: plan patches per run"
    )
    run_max_llm_calls: int = Field(
        50,
        ge=0,
        description="default of the run option max_llm_calls: planning and analysis calls per run",
    )
    run_max_llm_tokens: int = Field(
        2_000_000, ge=0, description="default of the run option max_llm_tokens: LLM tokens per run"
    )
    run_max_cost_usd: float | None = Field(
        None,
        gt=0,
        description="default of the run option max_cost_usd: what a run's LLM calls may cost, "
        "in USD (calls whose price is not known count as free)",
    )
    run_max_seconds: float | None = Field(
        None,
        gt=0,
        description="default of the run option max_run_seconds: wall-clock time of a "
        "run's execution",
    )
    workflow_task_timeout_seconds: float = Field(
        10.0,
        ge=1,
        le=120,
        description="how long a run's workflow task may take before Temporal gives it to "
        "another worker: a run whose worker died while it ran reads as local activities goes "
        "on elsewhere after this long (shorter only where no workflow task takes long: "
        "expanding a 10,000-item for-each takes over 5 s)",
    )
    run_heartbeat_timeout_seconds: float = Field(
        2.0, ge=1, le=600, description="default of the run option heartbeat_timeout_seconds"
    )
    poll_min_interval_seconds: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="default of the run option poll_min_interval_seconds: the shortest "
        "wait between a poll's checks",
    )
    poll_max_checks: int = Field(
        1000,
        ge=1,
        description="default of the run option poll_max_checks: checks one poll task may make",
    )
    continue_as_new_after_tasks: int = Field(
        500, ge=1, description="default of the run option continue_as_new_after_tasks"
    )
    local_activities: Literal["auto", "off"] = Field(
        "auto",
        description="default of the run option local_activities: auto runs an action that "
        "only reads (a GET, a read-only query, a file read) as a local activity; off as a "
        "regular one",
    )
    local_activity_max_seconds: float = Field(
        5.0,
        gt=0,
        le=600,
        description="default of the run option local_activity_max_seconds: a read that takes "
        "longer as a local activity runs again as a regular one",
    )

    def run_option_defaults(self) -> dict[str, Any]:
        """What runs started by the CLI or the Python API get unless told otherwise."""
        return {
            "llm_timeout_seconds": self.llm_timeout_seconds,
            "llm_action_types": [n.strip() for n in self.llm_action_types.split(",") if n.strip()],
            "max_tasks": self.run_max_tasks,
            "max_items": self.run_max_items,
            "max_depth": self.run_max_depth,
            "max_replans": self.run_max_replans,
            "max_llm_calls": self.run_max_llm_calls,
            "max_llm_tokens": self.run_max_llm_tokens,
            "max_cost_usd": self.run_max_cost_usd,
            "max_run_seconds": self.run_max_seconds,
            "poll_min_interval_seconds": self.poll_min_interval_seconds,
            "poll_max_checks": self.poll_max_checks,
            "continue_as_new_after_tasks": self.continue_as_new_after_tasks,
            "heartbeat_timeout_seconds": self.run_heartbeat_timeout_seconds,
            "local_activities": self.local_activities,
            "local_activity_max_seconds": self.local_activity_max_seconds,
            "action_task_queue": self.action_task_queue or None,
            "llm_task_queue": self.llm_task_queue or None,
        }

    @property
    def served_roles(self) -> dict[str, list[str]]:
        """Task queue -> the roles (workflows, actions, llm) this worker serves on it."""
        queues = {
            "workflows": self.task_queue,
            "actions": self.action_task_queue or self.task_queue,
            "llm": self.llm_task_queue or self.task_queue,
        }
        served: dict[str, list[str]] = {}
        for role in [name.strip() for name in self.worker_queues.split(",") if name.strip()]:
            served.setdefault(queues[role], []).append(role)
        return served

    @model_validator(mode="after")
    def _deployment_with_build(self) -> Settings:
        if bool(self.worker_deployment_name) != bool(self.worker_build_id):
            raise ValueError(
                "WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID go together: set both (Worker "
                "Versioning) or neither"
            )
        return self

    @field_validator("worker_queues")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        roles = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(roles) - set(WORKER_ROLES))
        if unknown or not roles:
            raise ValueError(
                f"{', '.join(unknown) or 'nothing'}: a worker serves any of "
                f"{', '.join(WORKER_ROLES)} (comma-separated)"
            )
        return value

    @field_validator("worker_processes", mode="before")
    @classmethod
    def _process_count(cls, value: Any) -> int:
        text = str(value).strip().lower()
        if text == "auto":
            return available_cores()
        if not text.isdigit() or int(text) < 1:
            raise ValueError(
                f"{value!r}: give a number of processes, 1 or more, or auto (one per core)"
            )
        return int(text)

    @property
    def temporal_tls_on(self) -> bool:
        """Whether the client speaks TLS to the Temporal frontend."""
        return bool(
            self.temporal_tls
            or self.temporal_api_key
            or self.temporal_tls_cert
            or self.temporal_tls_ca
        )

    @field_validator(
        "temporal_tls_cert",
        "temporal_tls_key",
        "temporal_tls_ca",
        "temporal_tls_server_name",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _tls_files_readable(self) -> Settings:
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise ValueError(
                "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (mTLS) or neither"
            )
        for name in ("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name.upper()}: {path} is not a readable file")
        return self

    @field_validator("mcp_servers", "openapi_services", mode="before")
    @classmethod
    def _json_object(cls, value: Any, info: ValidationInfo) -> Any:
        """Text that is not a JSON object says so (pydantic would say "a valid dictionary")."""
        if value is None or isinstance(value, dict):
            return value
        setting = (info.field_name or "").upper()
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as error:
            raise ValueError(
                f"not valid JSON ({error.msg} at character {error.pos}); {setting} takes a "
                "JSON object of name -> settings"
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError(f"{setting} takes a JSON object of name -> settings")
        return parsed

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_server_names(
        cls, value: dict[str, McpServerSetting] | None
    ) -> dict[str, McpServerSetting] | None:
        for name in value or {}:
            _check_mcp_server_name(name)
        return value

    @field_validator("openapi_services")
    @classmethod
    def _openapi_service_names(
        cls, value: dict[str, OpenApiServiceSetting] | None
    ) -> dict[str, OpenApiServiceSetting] | None:
        for name in value or {}:
            if not re.match(NAME_PATTERN, name) or name == "mcp":
                raise ValueError(
                    f"OpenAPI service name {name!r}: use letters, digits, _ and - (not mcp): "
                    "it is part of the action types <name>.<operationId>"
                )
        return value

    def mcp_server_settings(self) -> dict[str, McpServerSetting]:
        """MCP_SERVERS and the servers of MCP_SERVERS_FILE (read now, like SECRETS_FILE); a
        ValueError says what is wrong with the file."""
        from_file = _mcp_servers_in(self.mcp_servers_file) if self.mcp_servers_file else {}
        both = sorted(set(from_file) & set(self.mcp_servers or {}))
        if both:
            raise ValueError(f"MCP server {both[0]!r} is in both MCP_SERVERS and MCP_SERVERS_FILE")
        return {**from_file, **(self.mcp_servers or {})}

    @model_validator(mode="after")
    def _ui_follows_the_server(self) -> Settings:
        if not self.temporal_ui_url:
            self.temporal_ui_url = default_ui_url(self.temporal_address)
        return self

    @field_validator("payload_encryption_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            EncryptionKeys.parse(value.get_secret_value())
        return value

    @field_validator("llm_prices", mode="before")
    @classmethod
    def _prices_parse(cls, value: Any) -> Any:
        # Not JSON, pydantic-settings hands the raw text over: say what the setting looks like.
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON ({error.msg}); give {PRICES_HELP}") from None
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"give a JSON object: {PRICES_HELP}")
        return value

    @field_validator("http_allow_hosts")
    @classmethod
    def _allow_rules_parse(cls, value: str) -> str:
        parse_rules(value.split(","))
        return value

    @property
    def allow_rules(self) -> tuple[AllowRule, ...]:
        """HTTP_ALLOW_HOSTS, parsed."""
        return parse_rules(self.http_allow_hosts.split(","))

    @property
    def blob_location(self) -> str:
        """BLOB_STORE, or the directory DATA_DIR/blobs (absolute: the CLI and the worker may
        run in different directories only when it is set)."""
        return self.blob_store or str((self.data_dir / "blobs").resolve())

    @property
    def action_module_names(self) -> list[str]:
        """ACTION_MODULES as a list of module names."""
        return [name.strip() for name in self.action_modules.split(",") if name.strip()]

    @property
    def endpoints(self) -> list[LLMEndpoint]:
        """The LLM endpoints: LLM_ENDPOINTS, else one from the OPENAI_* settings."""
        if self.llm_endpoints:
            return self.llm_endpoints
        return [
            LLMEndpoint(
                base_url=self.openai_base_url or OPENAI_DEFAULT_BASE_URL,
                model=self.openai_model,
                api_key_env="OPENAI_API_KEY" if self.openai_api_key else None,
            )
        ]

    def api_key_of(self, endpoint: LLMEndpoint) -> str | None:
        """The key an endpoint names, from the environment or the .env file."""
        if not endpoint.api_key_env:
            return None
        if endpoint.api_key_env.upper() == "OPENAI_API_KEY" and self.openai_api_key:
            return self.openai_api_key
        return os.environ.get(endpoint.api_key_env) or _dotenv_value(endpoint.api_key_env)

    @model_validator(mode="after")
    def _endpoint_keys_exist(self) -> Settings:
        for endpoint in self.llm_endpoints or []:
            if endpoint.api_key_env and not self.api_key_of(endpoint):
                raise ValueError(
                    f"LLM endpoint {endpoint.label} takes its key from {endpoint.api_key_env}, "
                    "which is not set"
                )
        return self


def _check_mcp_server_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name):
        raise ValueError(
            f"MCP server name {name!r}: use letters, digits, _ and - (it is part of the action "
            "types mcp.<name>.<tool>)"
        )


def _mcp_servers_in(path: Path) -> dict[str, McpServerSetting]:
    """The servers of MCP_SERVERS_FILE; a ValueError says what is wrong with it."""
    try:
        entries = json.loads(path.read_text())
        if not isinstance(entries, dict):
            raise ValueError("give a JSON object of name -> server")
        for name in entries:
            _check_mcp_server_name(name)
        return {name: McpServerSetting.model_validate(entry) for name, entry in entries.items()}
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"MCP_SERVERS_FILE {path}: {where + ': ' if where else ''}{message}"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"MCP_SERVERS_FILE {path}: not valid JSON ({error.msg} at line {error.lineno}); "
            "give a JSON object of name -> server"
        ) from None
    except (OSError, ValueError) as error:
        raise ValueError(f"MCP_SERVERS_FILE {path}: {error}") from None


DOTENV = Path(".env")  # the settings' file, in the current directory


def _dotenv() -> dict[str, str | None]:
    """The variables of the .env file (none without one)."""
    return dict(dotenv_values(DOTENV)) if DOTENV.is_file() else {}


def dotenv_variables(prefix: str) -> dict[str, str]:
    """The variables of the .env file whose names start with `prefix` (the worker's secrets,
    AGENTIC_SECRET_*, may be kept there as the settings are)."""
    found = _dotenv().items()
    return {name: value for name, value in found if name.startswith(prefix) and value is not None}


def _dotenv_value(name: str) -> str | None:
    """A variable of the .env file (the settings read it; other variables it holds, such as
    an endpoint's key, are found here)."""
    return _dotenv().get(name)


SECRET_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET")


class SettingSource(BaseModel):
    """One setting as it is in effect, and where its value came from."""

    variable: str
    value: str
    source: Literal["default", ".env", "environment", "command line"]


def setting_sources(settings: Settings) -> list[SettingSource]:
    """Every setting, its value (secrets masked) and where it came from: the environment, the
    .env file, the command line's global options, or the default."""
    dotenv = _dotenv()
    environment = {name.upper() for name in os.environ}
    dotenv_names = {name.upper() for name in dotenv}
    sources = []
    for name in Settings.model_fields:
        variable = name.upper()
        if name in _overrides:
            source = "command line"
        elif variable in environment:
            source = "environment"
        elif variable in dotenv_names:
            source = ".env"
        else:
            source = "default"
        shown = _shown(variable, getattr(settings, name))
        sources.append(SettingSource(variable=variable, value=shown, source=source))
    return sources


def _shown(variable: str, value: Any) -> str:
    """A setting's value for people: secrets masked, a URL's password hidden."""
    if value is None:
        return ""
    secret_name = any(word in SECRET_WORDS for word in variable.split("_"))
    if isinstance(value, SecretStr) or (secret_name and not isinstance(value, Path)):
        return "********" if str(value) else ""
    if isinstance(value, BaseModel | dict) or (isinstance(value, list) and value):
        text = json.dumps(_credentials_masked(to_jsonable_python(value)))
    else:
        text = str(value)
    return _without_password(text)


def default_ui_url(temporal_address: str) -> str:
    """The Web UI of the server at `temporal_address`: Temporal Cloud's for a Cloud namespace,
    else the dev server's, whose UI port is its gRPC port + 1000 (`cli.py server`, `temporal
    server start-dev`)."""
    host, _, port = temporal_address.rpartition(":")
    if host.endswith(".tmprl.cloud"):
        return "https://cloud.temporal.io"
    ui_port = int(port) + 1000 if port.isdigit() else 8233
    return f"http://{host or 'localhost'}:{ui_port}"


def _credentials_masked(value: Any) -> Any:
    """The values of `env` and `headers` maps (MCP servers', OpenAPI services') masked, but for
    `{{ secrets.NAME }}` references, which say where the value comes from."""
    if isinstance(value, list):
        return [_credentials_masked(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: {name: text if "{{" in str(text) else "********" for name, text in inner.items()}
        if key in ("env", "headers") and isinstance(inner, dict)
        else _credentials_masked(inner)
        for key, inner in value.items()
    }


def _without_password(text: str) -> str:
    """`postgresql://user:pw@host/db` -> `postgresql://user:********@host/db`."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1********@", text)


_overrides: dict[str, Any] = {}


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def override_settings(**values: Any) -> None:
    """Values that win over the environment (the CLI's global options); None is ignored."""
    _overrides.update({name: value for name, value in values.items() if value is not None})
    get_settings.cache_clear()


def overridden_settings() -> dict[str, Any]:
    """The values given by `override_settings` (the CLI's global options)."""
    return dict(_overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings(**_overrides)
