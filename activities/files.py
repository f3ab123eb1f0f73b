"""Runs `file_operation`: read, write, delete, list and check files inside the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from activities.base import ActionContext
from core.actions.base import Action
from core.actions.files import SPEC, FileOperationConfig
from core.errors import ErrorType, non_retryable


def resolve_in_workspace(workspace_dir: Path, relative_path: str) -> Path:
    """The absolute path of `relative_path` in the workspace, refusing any way out of it."""
    if Path(relative_path).is_absolute():
        raise non_retryable(
            f"path {relative_path!r} is absolute; give a path relative to the workspace",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
        )
    root = workspace_dir.resolve()
    resolved = (root / relative_path).resolve()
    if resolved != root and root not in resolved.parents:
        raise non_retryable(
            f"path {relative_path!r} leads outside the workspace {root} (via '..' or a symlink)",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
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
                f"{config.path} is not valid JSON: {error}", ErrorType.INVALID_INPUT
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
        raise non_retryable(
            f"{config.path} is a directory; delete removes files", ErrorType.INVALID_INPUT
        )
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
        raise non_retryable(
            f"{config.path}: no such file or directory", ErrorType.FILE_NOT_FOUND
        ) from None
    except NotADirectoryError:
        raise non_retryable(f"{config.path} is not a directory", ErrorType.INVALID_INPUT) from None
    except IsADirectoryError:
        raise non_retryable(
            f"{config.path} is a directory, not a file", ErrorType.INVALID_INPUT
        ) from None
    except (UnicodeError, LookupError, ValueError) as error:
        message = f"{config.path}: cannot {config.operation} as {config.encoding} text ({error})"
        raise non_retryable(message, ErrorType.INVALID_INPUT) from error
    except PermissionError as error:
        message = f"{config.path}: permission denied ({error})"
        raise non_retryable(message, ErrorType.PERMISSION_DENIED) from error


ACTION = Action.of(SPEC, run=run_file_operation)
