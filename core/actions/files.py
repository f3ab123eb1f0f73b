"""`file_operation`: read, write, delete, list and check files inside the workspace."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import model_validator

from agentic.core.actions.base import ActionConfig, ActionSpec, RiskCheck, preview

FileOperation = Literal["read", "write", "delete", "list", "exists"]


class FileOperationConfig(ActionConfig):
    """`path` is relative to the workspace. `write` takes `content`: text as is, else JSON."""

    operation: FileOperation
    """read, write, delete, list or exists."""
    path: str
    """Relative to the workspace (WORKSPACE_DIR); a way out of it is refused."""
    content: Any = None
    """For write: text is written as is, any other JSON value as JSON."""
    parse_json: bool = False
    """For read: parse the file as JSON."""
    encoding: str = "utf-8"
    """The text encoding of read and write."""

    @model_validator(mode="after")
    def _content_for_write(self) -> FileOperationConfig:
        if self.operation == "write" and self.content is None:
            raise ValueError("operation 'write' needs 'content'")
        if not self.path:
            raise ValueError("path must not be empty (use '.' for the workspace itself)")
        return self


def path_refusal(config: FileOperationConfig) -> str:
    """Why a path is refused before anything runs: its spelling alone leads out of the
    workspace. Symlinks are checked where the file is opened (activities/files.py), and a
    path made by a reference once it has its value."""
    return "" if "{{" in config.path else spelled_out_of_workspace(config.path)


def spelled_out_of_workspace(path: str) -> str:
    """Why `path` leads out of the workspace by its spelling ("" when it does not)."""
    if "\0" in path:
        return f"path {path!r} contains a NUL byte"
    if PurePosixPath(path).is_absolute():
        return f"path {path!r} is absolute: give a path relative to the workspace"
    if posixpath.normpath(path).split("/")[0] == "..":
        return f"path {path!r} leads out of the workspace"
    return ""


def file_risk(config: FileOperationConfig) -> str:
    """Deleting needs approval."""
    return f"deletes the file {config.path}" if config.operation == "delete" else ""


def overwrite_check(config: FileOperationConfig) -> RiskCheck | None:
    """A write needs approval only when the file already exists: look just before."""
    if config.operation != "write":
        return None
    return RiskCheck(
        action_type="file_operation",
        config=FileOperationConfig(operation="exists", path=config.path),
        flag="exists",
        reason=f"writes over the existing file {config.path}",
        condition=f"{config.path} already exists",
        question=f"does {config.path} exist?",
        activity_suffix="exists",
    )


def file_reads(config: FileOperationConfig) -> bool:
    """read, list and exists."""
    return config.operation in ("read", "list", "exists")


def describe_file_result(output: Any) -> str:
    """What the operation did, e.g. `wrote 120 bytes to out/report.md`."""
    if not isinstance(output, dict) or "path" not in output:
        return preview(output)
    path = output["path"]
    if "bytes_written" in output:
        return f"wrote {output['bytes_written']} bytes to {path}"
    if "deleted" in output:
        return f"deleted {path}"
    if "entries" in output:
        return f"{len(output['entries'])} entries in {path}"
    if "exists" in output:
        return f"{path} exists ({output['type']})" if output["exists"] else f"{path} is absent"
    return f"read {output.get('size', 0)} bytes from {path}: {preview(output.get('content'), 50)}"


SPEC = ActionSpec(
    action_type="file_operation",
    config_model=FileOperationConfig,
    description=(
        "Files in the workspace directory (paths relative to it). operation: read | write | "
        "delete | list | exists. write takes `content` (text, or any JSON value written as "
        "JSON); read with parse_json: true returns parsed JSON. Output: {path, ...}."
    ),
    risk=file_risk,
    risk_check=overwrite_check,
    describe_output=describe_file_result,
    refusal=path_refusal,
    reads_only=file_reads,
)
