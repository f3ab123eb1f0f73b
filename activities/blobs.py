"""The blob store: where outputs too large for Temporal's history are kept (core/blobs.py has
the references the history holds instead).

Two stores: a directory (the default, under the data directory) and an S3-compatible bucket
(through boto3), for workers on many machines. Values are content-addressed per run
(`<run>/<sha256>`), written completely before their reference is returned, and checked
against their hash when read.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from agentic.activities.compute import compute, rough_size
from agentic.core.blobs import (
    HISTORY_PAYLOAD_LIMIT_BYTES,
    BlobRef,
    blob_ref,
    decoded,
    encoded,
    encoded_size,
)
from agentic.core.errors import ActionError, ErrorType, non_retryable, retryable
from agentic.core.messages import TaskResult

DEFAULT_THRESHOLD_BYTES = 256 * 1024
# A field smaller than this stays in the history even when its output is stored.
SMALL_FIELD_BYTES = 1024


@dataclass(frozen=True)
class StoredRun:
    """The blobs of one run (one workflow id) in a store."""

    workflow_id: str
    count: int
    size: int
    newest: float  # when the newest blob was written (seconds since the epoch)


class BlobStore(Protocol):
    """Where blobs are kept. Keys are `<quoted workflow id>/<sha256>`."""

    location: str

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (complete once this returns)."""

    async def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there are none."""

    async def runs(self) -> list[StoredRun]:
        """Every run that has blobs, with their count, size and age."""

    async def delete_run(self, workflow_id: str) -> int:
        """Remove every blob of a run; how many were removed."""


def run_prefix(workflow_id: str) -> str:
    """A workflow id as one safe path segment (ids may hold '/')."""
    return quote(workflow_id, safe="")


class DirectoryBlobStore:
    """Blobs as files: `<root>/<quoted workflow id>/<sha256>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.root / key, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists() and path.stat().st_size == len(data):
            return  # content-addressed: the same value is already there
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self.root / key
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def runs(self) -> list[StoredRun]:
        return await asyncio.to_thread(self._runs)

    def _runs(self) -> list[StoredRun]:
        if not self.root.is_dir():
            return []
        found = []
        for directory in sorted(self.root.iterdir()):
            files = [path.stat() for path in directory.iterdir() if path.is_file()]
            if files:
                found.append(
                    StoredRun(
                        workflow_id=unquote(directory.name),
                        count=len(files),
                        size=sum(stat.st_size for stat in files),
                        newest=max(stat.st_mtime for stat in files),
                    )
                )
        return found

    async def delete_run(self, workflow_id: str) -> int:
        return await asyncio.to_thread(self._delete_run, self.root / run_prefix(workflow_id))

    @staticmethod
    def _delete_run(directory: Path) -> int:
        removed = 0
        for path in directory.iterdir():
            path.unlink()
            removed += 1
        directory.rmdir()
        return removed


class S3BlobStore:
    """Blobs as objects of an S3-compatible bucket: `s3://bucket/prefix/<workflow>/<sha256>`.

    boto3 reads the credentials, region and endpoint (`AWS_ENDPOINT_URL` for a store that is
    not AWS) from its usual settings; its calls run in threads."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        try:
            import boto3
        except ImportError:
            raise ValueError(
                "BLOB_STORE names an S3 bucket, but boto3 is not installed: "
                "pip install 'agentic-temporal[s3]'"
            ) from None
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"
        self._s3 = boto3.client("s3")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._s3.put_object,
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, self.prefix + key)

    def _get(self, key: str) -> bytes | None:
        try:
            found = self._s3.get_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        data: bytes = found["Body"].read()
        return data

    async def runs(self) -> list[StoredRun]:
        return await asyncio.to_thread(self._runs)

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return [item for page in pages for item in page.get("Contents", [])]

    def _runs(self) -> list[StoredRun]:
        by_run: dict[str, list[dict[str, Any]]] = {}
        for item in self._objects(self.prefix):
            run, _, _ = item["Key"][len(self.prefix) :].partition("/")
            by_run.setdefault(run, []).append(item)
        return [
            StoredRun(
                workflow_id=unquote(run),
                count=len(items),
                size=sum(item["Size"] for item in items),
                newest=max(item["LastModified"].timestamp() for item in items),
            )
            for run, items in sorted(by_run.items())
        ]

    async def delete_run(self, workflow_id: str) -> int:
        return await asyncio.to_thread(self._delete_run, workflow_id)

    def _delete_run(self, workflow_id: str) -> int:
        keys = [item["Key"] for item in self._objects(f"{self.prefix}{run_prefix(workflow_id)}/")]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
        return len(keys)


def open_store(location: str) -> BlobStore:
    """The store a BLOB_STORE setting names: `s3://bucket/prefix`, or a directory."""
    if location.startswith("s3://"):
        parts = urlsplit(location)
        if not parts.netloc:
            raise ValueError(f"BLOB_STORE {location!r} names no bucket: use s3://bucket/prefix")
        return S3BlobStore(parts.netloc, parts.path)
    if "://" in location:
        raise ValueError(f"BLOB_STORE {location!r} is neither a directory nor s3://bucket/prefix")
    return DirectoryBlobStore(Path(location).expanduser().resolve())


class Blobs:
    """Claim checks over a store: `offload` keeps an output's large parts in the store and
    returns what the history holds; `load` gives back the whole value."""

    def __init__(self, store: BlobStore, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> None:
        self.store = store
        self.threshold_bytes = threshold_bytes

    async def offload(self, value: Any, workflow_id: str) -> Any:
        """`value` as the history may hold it: unchanged when small; else an object with its
        largest fields stored (so `status_code`, `done` and the like stay readable), or the
        whole value stored."""
        # Sizing, encoding and hashing a large value take a while: in a thread, so that the
        # event loop goes on heartbeating the other actions.
        size = await compute(encoded_size, value, size=rough_size(value))
        if size <= self.threshold_bytes:
            return value
        if isinstance(value, Mapping):
            kept = await self._offload_fields(dict(value), size, workflow_id)
            if kept is not None:
                return kept
        return (await self.put(value, workflow_id)).as_value()

    async def _offload_fields(
        self, fields: dict[str, Any], size: int, workflow_id: str
    ) -> dict[str, Any] | None:
        """`fields` with the largest stored until the rest fits; None when it never does."""
        sizes = await compute(lambda: {name: encoded_size(item) for name, item in fields.items()})
        for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
            if size <= self.threshold_bytes or sizes[name] < SMALL_FIELD_BYTES:
                break
            fields[name] = (await self.put(fields[name], workflow_id)).as_value()
            size += encoded_size(fields[name]) - sizes[name]
        return fields if size <= self.threshold_bytes else None

    async def put(self, value: Any, workflow_id: str) -> BlobRef:
        """Store one value; its reference once it is stored."""
        data, content_type, digest = await compute(_encoded_with_digest, value)
        key = f"{run_prefix(workflow_id or 'no-run')}/{digest}"
        try:
            await self.store.put(key, data, content_type)
        except Exception as error:
            raise store_unavailable(self.store, error) from None
        return BlobRef(key=key, size=len(data), content_type=content_type, sha256=digest)

    async def read(self, ref: BlobRef) -> bytes:
        """The bytes a reference points to, checked against its hash."""
        try:
            data = await self.store.get(ref.key)
        except Exception as error:
            raise store_unavailable(self.store, error) from None
        if data is None:
            raise non_retryable(
                f"{ref.key} is no longer in the blob store {self.store.location} (removed by "
                "`cleanup`, or the worker uses another BLOB_STORE)",
                ErrorType.BLOB_MISSING,
            )
        if await compute(lambda: hashlib.sha256(data).hexdigest()) != ref.sha256:
            raise non_retryable(
                f"{ref.key} in {self.store.location} does not match its sha256: it was changed",
                ErrorType.BLOB_CORRUPT,
            )
        return data

    async def load(self, output: Any) -> Any:
        """An output as `offload` was given it: the output itself, or its top-level fields,
        loaded where they are references."""
        if isinstance(output, Mapping) and blob_ref(output) is None:
            return {name: await self._loaded(item) for name, item in output.items()}
        return await self._loaded(output)

    async def _loaded(self, value: Any) -> Any:
        ref = blob_ref(value)
        if ref is None:
            return value
        return await compute(decoded, await self.read(ref), ref.content_type)


def _encoded_with_digest(value: Any) -> tuple[bytes, str, str]:
    data, content_type = encoded(value)
    return data, content_type, hashlib.sha256(data).hexdigest()


def store_unavailable(store: BlobStore, error: Exception) -> ActionError:
    """A store that could not be reached or written: worth retrying."""
    return retryable(
        f"blob store {store.location}: {type(error).__name__}: {error}",
        ErrorType.BLOB_STORE_UNAVAILABLE,
    )


def check_history_size(value: Any) -> None:
    """Refuse, without retrying, an output the history cannot hold (no retry can shrink it)."""
    size = encoded_size(value)
    if size > HISTORY_PAYLOAD_LIMIT_BYTES:
        raise non_retryable(
            f"the output takes {size} bytes, more than Temporal's history can hold (2 MB); "
            "lower BLOB_THRESHOLD_BYTES so that large parts go to the blob store",
            ErrorType.OUTPUT_TOO_LARGE,
        )


def age_days(run: StoredRun) -> float:
    """Days since the newest blob of a run was written."""
    return (time.time() - run.newest) / 86400


async def read_chunk(blobs: Blobs, chunk: dict[str, Any]) -> list[TaskResult]:
    """The item results one archived chunk of a large for-each holds (activities/items.py)."""
    if blob_ref(chunk) is None:
        raise non_retryable(f"not a blob reference: {str(chunk)[:80]}", ErrorType.BLOB_CORRUPT)
    stored = await blobs.load(chunk)
    return [TaskResult.model_validate(item) for item in stored]
