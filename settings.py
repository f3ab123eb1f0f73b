"""Every setting of the engine, read once from environment variables.

The CLI, the worker and the activities read settings; workflow code never does (it must be
deterministic), so anything a workflow needs travels in its input.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Engine settings. Each field is read from the environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "agentic-runs"
    temporal_ui_url: str = Field(
        "http://localhost:8233", description="Base address of the Temporal Web UI, for links."
    )

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = 120.0

    workspace_dir: Path = Path("workspace")
    database_url: str | None = None
    db_row_limit: int = 10_000

    metrics_address: str | None = Field(
        None, description="host:port where the worker serves Prometheus metrics (/metrics)"
    )
    data_dir: Path = Path(".data")
    log_level: str = "INFO"
    log_format: str = Field("console", description="console or json")

    @property
    def llm_configured(self) -> bool:
        """True when an LLM can be reached: a key (OpenAI) or a base URL (a compatible server)."""
        return bool(self.openai_api_key or self.openai_base_url)


_overrides: dict[str, Any] = {}


def override_settings(**values: Any) -> None:
    """Values that win over the environment (the CLI's global options); None is ignored."""
    _overrides.update({name: value for name, value in values.items() if value is not None})
    get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings(**_overrides)
