"""Runs `file_operation`: read, write, delete, list and check files inside the workspace."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from activities.base import ActionContext
from core.actions.base import Action
from core.actions.files import SPEC, FileOperationConfig
from core.errors import ErrorType, non_retryable

PROC_FD = Path("/proc/self/fd")


def resolve_in_workspace(workspace_dir: Path, relative_path: str) -> Path:
    """The absolute path of `relative_path` in the workspace, refusing any way out of it."""
    if "\x00" in relative_path:
        raise non_retryable(
            f"path {relative_path!r} holds a NUL byte", ErrorType.PATH_OUTSIDE_WORKSPACE
        )
    if Path(relative_path).is_absolute():
        raise non_retryable(
            f"path {relative_path!r} is absolute; give a path relative to the workspace",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
        )
    root = workspace_dir.resolve()
    resolved = (root / relative_path).resolve()
    if not _inside(resolved, root):
        raise non_retryable(
            f"path {relative_path!r} leads outside the workspace {root} (via '..' or a symlink)",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
        )
    return resolved


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _open_checked(path: Path, root: Path, flags: int, shown: str) -> int:
    """Open without following a symlink, then check the opened file itself (through its
    descriptor) is in the workspace: a symlink swapped in after the check cannot lead out."""
    descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    opened = Path(os.readlink(f"/proc/self/fd/{descriptor}")) if PROC_FD.exists() else path
    if not _inside(opened, root):
        os.close(descriptor)
        raise non_retryable(
            f"path {shown!r} was swapped for a way out of the workspace",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
        )
    return descriptor


def _read_bytes(path: Path, root: Path, limit: int, shown: str) -> bytes:
    descriptor = _open_checked(path, root, os.O_RDONLY, shown)
    with os.fdopen(descriptor, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise non_retryable(
                f"{shown} has {size} bytes, more than FILE_MAX_READ_BYTES ({limit})",
                ErrorType.INVALID_INPUT,
            )
        return handle.read(limit + 1)


def _write_bytes(path: Path, root: Path, data: bytes, shown: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _open_checked(path, root, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, shown)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _as_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, indent=2, default=str)


async def _read(path: Path, config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    root = ctx.workspace_dir.resolve()
    data = await asyncio.to_thread(_read_bytes, path, root, ctx.file_max_read_bytes, config.path)
    text = data.decode(config.encoding)
    content: Any = text
    if config.parse_json:
        try:
            content = json.loads(text)
        except json.JSONDecodeError as error:
            raise non_retryable(
                f"{config.path} is not valid JSON: {error}", ErrorType.INVALID_INPUT
            ) from error
    return {"path": config.path, "content": content, "size": len(data)}


async def _write(path: Path, config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    data = _as_text(config.content).encode(config.encoding)
    root = ctx.workspace_dir.resolve()
    await asyncio.to_thread(_write_bytes, path, root, data, config.path)
    return {"path": config.path, "bytes_written": len(data)}


async def _delete(path: Path, config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    if await aiofiles.os.path.isdir(path):
        raise non_retryable(
            f"{config.path} is a directory; delete removes files", ErrorType.INVALID_INPUT
        )
    await aiofiles.os.remove(path)
    return {"path": config.path, "deleted": True}


async def _list(path: Path, config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    entries = []
    for name in sorted(await aiofiles.os.listdir(path)):
        entry_path = path / name
        is_dir = await aiofiles.os.path.isdir(entry_path)
        size = 0 if is_dir else await aiofiles.os.path.getsize(entry_path)
        entries.append({"name": name, "type": "directory" if is_dir else "file", "size": size})
    return {"path": config.path, "entries": entries}


async def _exists(path: Path, config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    if not await aiofiles.os.path.exists(path):
        return {"path": config.path, "exists": False, "type": None}
    kind = "directory" if await aiofiles.os.path.isdir(path) else "file"
    return {"path": config.path, "exists": True, "type": kind}


OPERATIONS = {"read": _read, "write": _write, "delete": _delete, "list": _list, "exists": _exists}


async def run_file_operation(config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    """Carry out one operation; a missing file or a denied permission is not worth retrying."""
    path = resolve_in_workspace(ctx.workspace_dir, config.path)
    try:
        return await OPERATIONS[config.operation](path, config, ctx)
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
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        message = f"path {config.path!r} became a symlink after it was checked: refused"
        raise non_retryable(message, ErrorType.PATH_OUTSIDE_WORKSPACE) from None


ACTION = Action.of(SPEC, run=run_file_operation)
