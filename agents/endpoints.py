"""Where LLM requests go: a list of OpenAI-compatible endpoints, tried in order.

Pure data (no openai import), so settings can parse LLM_ENDPOINTS without the client.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LLMEndpoint(BaseModel):
    """One OpenAI-compatible server and model. The key is named, never written here:
    `api_key_env` is the environment variable that holds it (none for local servers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = OPENAI_DEFAULT_BASE_URL
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    name: str = ""

    @model_validator(mode="after")
    def _named(self) -> LLMEndpoint:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.name:
            object.__setattr__(self, "name", urlsplit(self.base_url).netloc or self.base_url)
        return self

    @property
    def label(self) -> str:
        """`model@name`, for logs, results and the Web UI memo."""
        return f"{self.model}@{self.name}"

    def api_key(self) -> str | None:
        """The key, read from the environment variable the endpoint names."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None
