"""The `file_operation` action: read, write, delete and list inside the workspace directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import aiofiles
import aiofiles.os
from pydantic import model_validator

from activities.base import ActionConfig, ActionContext, ActionSpec, non_retryable, preview

FileOperation = Literal["read", "write", "delete", "list", "exists"]


class FileOperationConfig(ActionConfig):
    """`path` is relative to the workspace. `write` takes `content`: text as is, else JSON."""

    operation: FileOperation
    path: str
    content: Any = None
    parse_json: bool = False
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _content_for_write(self) -> FileOperationConfig:
        if self.operation == "write" and self.content is None:
            raise ValueError("operation 'write' needs 'content'")
        if not self.path:
            raise ValueError("path must not be empty (use '.' for the workspace itself)")
        return self


def resolve_in_workspace(workspace_dir: Path, relative_path: str) -> Path:
    """The absolute path of `relative_path` in the workspace, refusing any way out of it."""
    if Path(relative_path).is_absolute():
        raise non_retryable(
            f"path {relative_path!r} is absolute; give a path relative to the workspace",
            "PathOutsideWorkspace",
        )
    root = workspace_dir.resolve()
    resolved = (root / relative_path).resolve()
    if resolved != root and root not in resolved.parents:
        raise non_retryable(
            f"path {relative_path!r} leads outside the workspace {root} (via '..' or a symlink)",
            "PathOutsideWorkspace",
        )
    return resolved


def _as_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, indent=2, default=str)


async def _read(path: Path, config: FileOperationConfig) -> dict[str, Any]:
    async with aiofiles.open(path, encoding=config.encoding) as handle:
        text = await handle.read()
    content: Any = text
    if config.parse_json:
        try:
            content = json.loads(text)
        except json.JSONDecodeError as error:
            raise non_retryable(
                f"{config.path} is not valid JSON: {error}", "InvalidInput"
            ) from error
    return {"path": config.path, "content": content, "size": len(text.encode(config.encoding))}


async def _write(path: Path, config: FileOperationConfig) -> dict[str, Any]:
    text = _as_text(config.content)
    await aiofiles.os.makedirs(path.parent, exist_ok=True)
    async with aiofiles.open(path, "w", encoding=config.encoding) as handle:
        await handle.write(text)
    return {"path": config.path, "bytes_written": len(text.encode(config.encoding))}


async def _delete(path: Path, config: FileOperationConfig) -> dict[str, Any]:
    if await aiofiles.os.path.isdir(path):
        raise non_retryable(f"{config.path} is a directory; delete removes files", "InvalidInput")
    await aiofiles.os.remove(path)
    return {"path": config.path, "deleted": True}


async def _list(path: Path, config: FileOperationConfig) -> dict[str, Any]:
    entries = []
    for name in sorted(await aiofiles.os.listdir(path)):
        entry_path = path / name
        is_dir = await aiofiles.os.path.isdir(entry_path)
        size = 0 if is_dir else await aiofiles.os.path.getsize(entry_path)
        entries.append({"name": name, "type": "directory" if is_dir else "file", "size": size})
    return {"path": config.path, "entries": entries}


async def _exists(path: Path, config: FileOperationConfig) -> dict[str, Any]:
    if not await aiofiles.os.path.exists(path):
        return {"path": config.path, "exists": False, "type": None}
    kind = "directory" if await aiofiles.os.path.isdir(path) else "file"
    return {"path": config.path, "exists": True, "type": kind}


OPERATIONS = {"read": _read, "write": _write, "delete": _delete, "list": _list, "exists": _exists}


async def run_file_operation(config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    """Carry out one operation; a missing file or a denied permission is not worth retrying."""
    path = resolve_in_workspace(ctx.workspace_dir, config.path)
    try:
        return await OPERATIONS[config.operation](path, config)
    except FileNotFoundError:
        raise non_retryable(f"{config.path}: no such file or directory", "FileNotFound") from None
    except NotADirectoryError:
        raise non_retryable(f"{config.path} is not a directory", "InvalidInput") from None
    except IsADirectoryError:
        raise non_retryable(f"{config.path} is a directory, not a file", "InvalidInput") from None
    except (UnicodeError, LookupError, ValueError) as error:
        message = f"{config.path}: cannot {config.operation} as {config.encoding} text ({error})"
        raise non_retryable(message, "InvalidInput") from error
    except PermissionError as error:
        message = f"{config.path}: permission denied ({error})"
        raise non_retryable(message, "PermissionDenied") from error


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
    run=run_file_operation,
    description=(
        "Files in the workspace directory (paths relative to it). operation: read | write | "
        "delete | list | exists. write takes `content` (text, or any JSON value written as "
        "JSON); read with parse_json: true returns parsed JSON. Output: {path, ...}."
    ),
    describe_output=describe_file_result,
)
