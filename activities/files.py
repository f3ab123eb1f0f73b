"""Runs `file_operation`: read, write, delete, list and check files inside the workspace."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiofiles

from agentic.activities.base import ActionContext
from agentic.core.actions.base import Action
from agentic.core.actions.files import SPEC, FileOperationConfig, spelled_out_of_workspace
from agentic.core.errors import ErrorType, non_retryable

NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
NO_FOLLOW_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | NO_FOLLOW
Opener = Callable[[str, int], int]


def resolve_in_workspace(workspace_dir: Path, relative_path: str) -> Path:
    """The absolute path of `relative_path` in the workspace, refusing any way out of it."""
    spelled_out = spelled_out_of_workspace(relative_path)
    if spelled_out:
        raise non_retryable(spelled_out, ErrorType.PATH_OUTSIDE_WORKSPACE)
    root = workspace_dir.resolve()
    resolved = (root / relative_path).resolve()
    if not _inside(resolved, root):
        raise non_retryable(
            f"path {relative_path!r} leads outside the workspace {root} through a symlink",
            ErrorType.PATH_OUTSIDE_WORKSPACE,
        )
    return resolved


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _open_directory(root: Path, parts: tuple[str, ...], create: bool = False) -> int:
    """A descriptor of the directory `root/parts`, walked one name at a time without following
    a symlink: one swapped in after the path was checked fails the walk (ELOOP or ENOTDIR)
    instead of leading out. With `create`, missing directories are made on the way."""
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=directory)
            inner = _open_inner(directory, part)
            os.close(directory)
            directory = inner
    except BaseException:
        os.close(directory)
        raise
    return directory


def _open_inner(directory: int, part: str) -> int:
    try:
        return os.open(part, NO_FOLLOW_DIRECTORY, dir_fd=directory)
    except NotADirectoryError:
        if stat.S_ISLNK(os.stat(part, dir_fd=directory, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "a symlink in the path", part) from None
        raise


def _opener(directory: int, extra_flags: int = 0, drop_flags: int = 0) -> Opener:
    """An `opener` for open() and aiofiles.open(): the name relative to the directory
    descriptor, never through a symlink."""

    def open_relative(name: str, flags: int) -> int:
        return os.open(name, (flags | extra_flags | NO_FOLLOW) & ~drop_flags, 0o644,
                       dir_fd=directory)  # fmt: skip

    return open_relative


async def _read_bytes(root: Path, parts: tuple[str, ...], limit: int, shown: str) -> bytes:
    if not parts:
        raise IsADirectoryError(shown)
    directory = await asyncio.to_thread(_open_directory, root, parts[:-1])
    try:
        async with aiofiles.open(parts[-1], "rb", opener=_opener(directory)) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise non_retryable(
                    f"{shown} has {size} bytes, more than FILE_MAX_READ_BYTES ({limit})",
                    ErrorType.INVALID_INPUT,
                )
            return await handle.read(limit + 1)
    finally:
        os.close(directory)


async def _write_bytes(root: Path, parts: tuple[str, ...], data: bytes) -> None:
    directory = await asyncio.to_thread(_open_directory, root, parts[:-1], True)
    # No O_TRUNC at the open: nothing is emptied before the open proved the file is no symlink.
    opener = _opener(directory, drop_flags=os.O_TRUNC)
    try:
        async with aiofiles.open(parts[-1], "wb", opener=opener) as handle:
            await handle.truncate(0)
            await handle.write(data)
    finally:
        os.close(directory)


def _delete_file(root: Path, parts: tuple[str, ...], shown: str) -> None:
    if not parts:
        raise IsADirectoryError(shown)
    directory = _open_directory(root, parts[:-1])
    try:
        if stat.S_ISDIR(os.stat(parts[-1], dir_fd=directory, follow_symlinks=False).st_mode):
            raise non_retryable(f"{shown} is a directory; delete removes files",
                                ErrorType.INVALID_INPUT)  # fmt: skip
        os.unlink(parts[-1], dir_fd=directory)
    finally:
        os.close(directory)


def _entries(root: Path, parts: tuple[str, ...]) -> list[dict[str, Any]]:
    directory = _open_directory(root, parts)
    try:
        with os.scandir(directory) as found:
            listed = [(entry.name, entry.stat(follow_symlinks=False)) for entry in found]
    finally:
        os.close(directory)
    return [
        {"name": name, "type": "directory" if stat.S_ISDIR(info.st_mode) else "file",
         "size": 0 if stat.S_ISDIR(info.st_mode) else info.st_size}
        for name, info in sorted(listed)
    ]  # fmt: skip


def _kind(root: Path, parts: tuple[str, ...]) -> str | None:
    """ "file", "directory", or None when nothing is there."""
    if not parts:
        return "directory"
    try:
        directory = _open_directory(root, parts[:-1])
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        mode = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    finally:
        os.close(directory)
    return "directory" if stat.S_ISDIR(mode) else "file"


def _as_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, indent=2, default=str)


Parts = tuple[str, ...]


async def _read(root: Path, parts: Parts, config: FileOperationConfig, ctx: ActionContext) -> Any:
    data = await _read_bytes(root, parts, ctx.file_max_read_bytes, config.path)
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


async def _write(root: Path, parts: Parts, config: FileOperationConfig, ctx: ActionContext) -> Any:
    data = _as_text(config.content).encode(config.encoding)
    await _write_bytes(root, parts, data)
    return {"path": config.path, "bytes_written": len(data)}


async def _delete(root: Path, parts: Parts, config: FileOperationConfig, _: ActionContext) -> Any:
    await asyncio.to_thread(_delete_file, root, parts, config.path)
    return {"path": config.path, "deleted": True}


async def _list(root: Path, parts: Parts, config: FileOperationConfig, _: ActionContext) -> Any:
    return {"path": config.path, "entries": await asyncio.to_thread(_entries, root, parts)}


async def _exists(root: Path, parts: Parts, config: FileOperationConfig, _: ActionContext) -> Any:
    kind = await asyncio.to_thread(_kind, root, parts)
    return {"path": config.path, "exists": kind is not None, "type": kind}


OPERATIONS = {"read": _read, "write": _write, "delete": _delete, "list": _list, "exists": _exists}


async def run_file_operation(config: FileOperationConfig, ctx: ActionContext) -> dict[str, Any]:
    """Carry out one operation; a missing file or a denied permission is not worth retrying."""
    root = ctx.workspace_dir.resolve()
    parts = resolve_in_workspace(ctx.workspace_dir, config.path).relative_to(root).parts
    try:
        return await OPERATIONS[config.operation](root, parts, config, ctx)
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
        message = f"path {config.path!r} was swapped for a symlink after it was checked: refused"
        raise non_retryable(message, ErrorType.PATH_OUTSIDE_WORKSPACE) from None


ACTION = Action.of(SPEC, run=run_file_operation)
