"""file_operation in the workspace sandbox: operations work, escapes are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentic.activities import files
from agentic.activities.base import ActionContext
from agentic.core.actions.files import FileOperationConfig
from agentic.core.errors import ActionError
from tests.helpers import task, tasks_by_id


def run_plan(stack, run_id, tasks):
    plan = {"tasks": tasks}
    return stack.run_plan(plan, run_id, "--approval", "none")


def test_write_read_list_delete(stack, run_id):
    folder = f"files-{run_id}"
    result = run_plan(
        stack,
        run_id,
        [
            task(
                "write",
                "file_operation",
                {"operation": "write", "path": f"{folder}/data.json", "content": {"rows": [1, 2]}},
            ),
            task(
                "read",
                "file_operation",
                {"operation": "read", "path": f"{folder}/data.json", "parse_json": True},
                "write",
            ),
            task("list", "file_operation", {"operation": "list", "path": folder}, "read"),
            task(
                "delete",
                "file_operation",
                {"operation": "delete", "path": f"{folder}/data.json"},
                "list",
            ),
        ],
    )

    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    assert tasks["read"]["output"]["content"] == {"rows": [1, 2]}
    assert [e["name"] for e in tasks["list"]["output"]["entries"]] == ["data.json"]
    assert not (stack.workspace / folder / "data.json").exists()


def test_escapes_are_refused_without_retry(stack, run_id, tmp_path):
    """Where the file is opened; paths come from an upstream output, since a plan that spells
    an escape out is refused before it starts (tests/test_bad_input.py)."""
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    link = stack.workspace / f"link-{run_id}"
    os.symlink(tmp_path, link)
    escapes = {
        "dotdot": ("read", "../secret.txt"),
        "absolute": ("read", str(outside)),
        "symlink": ("read", f"link-{run_id}/secret.txt"),
        "overwrite": ("write", "../../owned.txt"),
    }
    paths = task("paths", "data_transform", {"input": {n: p for n, (_, p) in escapes.items()},
                                             "expression": "@"})  # fmt: skip
    uses = [
        task(name, "file_operation", {"operation": operation, "content": "x",
                                      "path": f"{{{{ tasks.paths.output.{name} }}}}"},
             "paths", critical=False)
        for name, (operation, _) in escapes.items()
    ]  # fmt: skip

    result = run_plan(stack, run_id, [paths, *uses])

    tasks = tasks_by_id(result)
    for name in escapes:
        assert tasks[name]["status"] in ("failed", "skipped"), name
        assert tasks[name]["error"]["error_type"] == "PathOutsideWorkspace", name
        assert tasks[name]["attempts"] == 1, name
    assert outside.read_text() == "secret"
    assert not (stack.workspace.parent.parent / "owned.txt").exists()


@pytest.mark.parametrize("operation", ["read", "write", "delete", "list", "exists"])
async def test_a_symlink_swapped_in_after_the_check_does_not_lead_out(
    tmp_path, monkeypatch, operation
):
    root = tmp_path / "workspace"
    outside = tmp_path / "outside"
    (root / "dir").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.txt").write_text("precious")
    checked = files.resolve_in_workspace

    def check_then_swap(workspace: Path, path: str) -> Path:
        resolved = checked(workspace, path)  # the check sees a directory inside ...
        (root / "dir").rmdir()
        (root / "dir").symlink_to(outside)  # ... then it is swapped for a way out
        return resolved

    monkeypatch.setattr(files, "resolve_in_workspace", check_then_swap)
    config = FileOperationConfig(operation=operation, path="dir/victim.txt", content="gone")
    if operation == "list":
        config = FileOperationConfig(operation="list", path="dir")

    with pytest.raises(ActionError, match="swapped for a symlink") as caught:
        await files.run_file_operation(config, ActionContext(http=None, workspace_dir=root))

    assert caught.value.error_type == "PathOutsideWorkspace"
    assert (outside / "victim.txt").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


async def test_a_symlink_as_the_file_itself_or_a_big_file_is_refused(tmp_path):
    root = tmp_path / "workspace"
    root.mkdir()
    (tmp_path / "victim.txt").write_text("precious")
    (root / "link.txt").symlink_to(tmp_path / "victim.txt")
    (root / "big.txt").write_text("x" * 2000)
    ctx = ActionContext(http=None, workspace_dir=root, file_max_read_bytes=1000)

    with pytest.raises(ActionError, match="outside the workspace"):
        await files.run_file_operation(FileOperationConfig(operation="read", path="link.txt"), ctx)
    with pytest.raises(ActionError, match="more than FILE_MAX_READ_BYTES"):
        await files.run_file_operation(FileOperationConfig(operation="read", path="big.txt"), ctx)


def test_a_nul_byte_in_a_path_is_refused(stack, run_id):
    spelled = {"tasks": [task("nul", "file_operation", {"operation": "read", "path": "a\u0000b"})]}
    refused = stack.cli("start", "--plan", str(stack.write_plan(spelled)))
    assert refused.returncode == 1 and "task 'nul': path 'a\\x00b' contains a NUL" in refused.stderr

    made = {"tasks": [
        task("name", "data_transform", {"input": "a\u0000b", "expression": "@"}),
        task("nul", "file_operation", {"operation": "read", "path": "{{ tasks.name.output }}"},
             "name", critical=False),
    ]}  # fmt: skip
    result = stack.run_plan(made, run_id, "--approval", "none")

    nul = tasks_by_id(result)["nul"]
    assert nul["error"]["error_type"] == "PathOutsideWorkspace" and "NUL" in nul["error"]["message"]
