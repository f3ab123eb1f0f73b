"""Named templates: plan files with params (see core/params.py) in the project's `templates/`
and the directories of TEMPLATE_DIRS, found by name (the file's name without `.json`); the
first directory that has a name wins. `save_run_template` turns a run's plan (one the LLM
wrote, say) into a template, so the same work runs again without the LLM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentic.core.plan import Plan, format_validation_error
from agentic.errors import AgenticError
from agentic.settings import Settings

TEMPLATE_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class TemplateError(AgenticError):
    """A template that is not there, does not load, or cannot be saved."""


# The engine's own templates (the repository's templates/, installed with the package).
BUILT_IN = Path(__file__).resolve().parent / "plan_templates"


def template_dirs(settings: Settings) -> list[Path]:
    """Where templates are looked for, in order: the project's `templates/`, TEMPLATE_DIRS,
    then the engine's own (data_pipeline, api_orchestration, job_execution)."""
    extra = [Path(part.strip()) for part in settings.template_dirs.split(",") if part.strip()]
    found: list[Path] = []
    for directory in [Path("templates"), *extra, BUILT_IN]:
        if directory.resolve() not in [known.resolve() for known in found]:
            found.append(directory)
    return found


def find_templates(settings: Settings) -> dict[str, Path]:
    """Every template by name (the first directory that has a name wins)."""
    found: dict[str, Path] = {}
    for directory in template_dirs(settings):
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            found.setdefault(path.stem, path)
    return found


def load_template(name: str, settings: Settings) -> Plan:
    """The template `name`; TemplateError says what there is instead, or what is wrong."""
    found = find_templates(settings)
    path = found.get(name)
    if path is None:
        known = ", ".join(sorted(found)) or "none"
        places = ", ".join(str(directory) for directory in template_dirs(settings))
        raise TemplateError(f"no template {name!r} (templates: {known}; looked in {places})")
    return load_template_file(path)


def load_template_file(path: Path) -> Plan:
    """The template in `path`; TemplateError names the file and what is wrong."""
    try:
        return Plan.model_validate_json(path.read_text())
    except OSError as error:
        raise TemplateError(f"template {path}: {error.strerror}") from None
    except ValidationError as error:
        raise TemplateError(f"template {path}: {format_validation_error(error)}") from None


def as_template(plan: Plan, param_paths: list[str]) -> Plan:
    """`plan` with each `TASK.PATH` (a path into that task's action_config, or `NAME=TASK.PATH`)
    made a param: the value there becomes its default, and `{{ params.NAME }}` takes its place;
    ValueError names a task or path that is not there."""
    document = plan.model_dump(mode="json", by_alias=True, exclude={"params"})
    properties: dict[str, Any] = {}
    for given in param_paths:
        name, _, where = given.rpartition("=") if "=" in given else ("", "", given)
        task_id, _, path = where.partition(".")
        task = next((t for t in document["tasks"] if t["id"] == task_id), None)
        if task is None or not path:
            tasks = ", ".join(t["id"] for t in document["tasks"])
            raise ValueError(
                f"--param-from {given!r}: give TASK.PATH into a task's config (tasks: {tasks})"
            )
        steps = path.split(".")
        name = name or steps[-1]
        holder = task["action_config"]
        for step in steps[:-1]:
            holder = holder.get(step) if isinstance(holder, dict) else None
        if not isinstance(holder, dict) or steps[-1] not in holder:
            raise ValueError(f"--param-from {given!r}: task {task_id!r} has no {path!r}")
        properties[name] = {"default": holder[steps[-1]],
                            "description": f"{task_id}'s {path}"}  # fmt: skip
        holder[steps[-1]] = f"{{{{ params.{name} }}}}"
    if properties:
        document["params"] = properties
    return Plan.model_validate(document)


def save_template(plan: Plan, name: str, settings: Settings, *, replace: bool = False) -> Path:
    """Write `plan` as the template `name` in the project's `templates/`; TemplateError when
    one by that name is there already (unless `replace`)."""
    directory = template_dirs(settings)[0]
    path = directory / f"{name}.json"
    if path.exists() and not replace:
        raise TemplateError(f"template {name!r} is there already ({path}): give --force to "
                            "replace it, or another name")  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    document = plan.model_dump(mode="json", by_alias=True, exclude_none=False)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
