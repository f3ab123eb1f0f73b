"""The production files hold together, checked without a Docker engine: docker-compose.yml's
services, pinned images, health checks, start order and volumes; the worker's environment
names every setting the code reads; the Dockerfile; .env.example; and the file against the
Compose specification's JSON Schema (what `docker compose config` checks)."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import resources
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from agentic.settings import Settings
from agentic.workflows.visibility import SEARCH_ATTRIBUTES
from tests.conftest import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
WORKER_ENV: dict[str, str | None] = SERVICES["worker"]["environment"]
SETTINGS = [name.upper() for name in Settings.model_fields]
DOCKERFILE = (REPO / "Dockerfile").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()
SETUP_SCRIPT = (REPO / "deploy" / "temporal-setup.sh").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# The Compose specification's JSON Schema, as check-jsonschema (a dev dependency) vendors it.
COMPOSE_SCHEMA = json.loads(
    resources.files("check_jsonschema.builtin_schemas.vendor")
    .joinpath("compose-spec.json")
    .read_text()
)

# ${NAME}, ${NAME:-default}, ${NAME-default}: Compose's interpolation.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
# Read from the worker's environment by libraries (boto3, OpenTelemetry), not by the settings.
LIBRARY_PREFIXES = ("AWS_", "OTEL_")
ONE_SHOT_JOBS = ["temporal-schema", "temporal-setup"]
ALWAYS = ["temporal-postgresql", *ONE_SHOT_JOBS, "temporal", "temporal-ui", "postgres", "worker"]
SERVERS = ["temporal-postgresql", "temporal", "temporal-ui", "postgres", "prometheus"]
# Examples in .env.example that stand for something the user makes: a key, files to mount.
UNCHECKED_EXAMPLES = {
    "PAYLOAD_ENCRYPTION_KEYS",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
}


def resolved(value: str) -> str:
    """`value` as Compose reads it with none of its variables set: each default."""
    return INTERPOLATION.sub(lambda match: match.group(2) or "", value).replace("$$", "$")


def image_tag(image: str) -> str:
    name = resolved(image).split("@")[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""


def depends_on(service: str) -> dict[str, str]:
    return {name: rule["condition"] for name, rule in SERVICES[service]["depends_on"].items()}


def mounts(service: str) -> dict[str, str]:
    """target -> source of a service's volumes."""
    return {
        entry.split(":")[1]: entry.split(":")[0] for entry in SERVICES[service].get("volumes", [])
    }


def test_the_stack_has_its_services_and_the_optional_ones_have_profiles():
    assert [name for name in ALWAYS if name not in SERVICES or "profiles" in SERVICES[name]] == []
    assert SERVICES["prometheus"]["profiles"] == ["metrics"]
    assert SERVICES["codec-server"]["profiles"] == ["codec"]
    assert SERVICES["codec-proxy"]["network_mode"] == "service:codec-server"


def test_every_image_is_pinned_to_a_version():
    images = {
        name: service["image"] for name, service in SERVICES.items() if "build" not in service
    }
    unpinned = {
        name: image
        for name, image in images.items()
        if image_tag(image) in ("", "latest") or not re.search(r"\d", image_tag(image))
    }
    assert unpinned == {}
    # The schema tool and the namespace job come from the server's own release.
    server = image_tag(SERVICES["temporal"]["image"])
    assert {image_tag(SERVICES[job]["image"]) for job in ONE_SHOT_JOBS} == {server}
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim\S*", base.group(1))


def test_the_servers_have_health_checks():
    checks = {name: SERVICES[name].get("healthcheck", {}).get("test") for name in SERVERS}
    assert [name for name, test in checks.items() if not test or test == ["NONE"]] == []
    assert "pg_isready" in str(checks["temporal-postgresql"]) + str(checks["postgres"])


def test_each_service_starts_once_what_it_needs_is_ready():
    assert depends_on("temporal-schema") == {"temporal-postgresql": "service_healthy"}
    assert depends_on("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert depends_on("temporal-setup") == {"temporal": "service_healthy"}
    assert depends_on("temporal-ui") == {"temporal": "service_healthy"}
    assert depends_on("worker") == {
        "temporal": "service_healthy",
        "temporal-setup": "service_completed_successfully",
        "postgres": "service_healthy",
    }
    for name in (name for name, service in SERVICES.items() if "depends_on" in service):
        for needed, condition in depends_on(name).items():
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[needed], f"{name} waits on {needed}'s health"
            if condition == "service_completed_successfully":
                assert SERVICES[needed].get("restart", "no") == "no", f"{needed} must end"


def test_what_the_stack_keeps_is_on_named_volumes():
    kept = {
        "temporal-postgresql": ["/var/lib/postgresql/data"],
        "postgres": ["/var/lib/postgresql/data"],
        "worker": ["/app/workspace", "/app/data"],
        "prometheus": ["/prometheus"],
    }
    for service, targets in kept.items():
        sources = [mounts(service).get(target, "") for target in targets]
        assert all(source in COMPOSE["volumes"] for source in sources), (service, sources)
    # The worker's directories are those volumes, in the image too.
    assert mounts("worker") == {
        WORKER_ENV["WORKSPACE_DIR"]: "workspace",
        WORKER_ENV["DATA_DIR"]: "data",
    }
    assert f"WORKSPACE_DIR={WORKER_ENV['WORKSPACE_DIR']}" in DOCKERFILE
    assert f"DATA_DIR={WORKER_ENV['DATA_DIR']}" in DOCKERFILE


def test_the_worker_environment_names_every_setting_and_only_settings():
    assert [name for name in SETTINGS if name not in WORKER_ENV] == []
    others = [n for n in WORKER_ENV if n not in SETTINGS and not n.startswith(LIBRARY_PREFIXES)]
    assert others == []


def test_no_setting_reaches_the_worker_as_an_empty_value():
    # A name without a value passes the variable through when it is set and leaves the
    # engine's default otherwise; "${NAME:-}" would hand most settings an invalid "".
    empty = [
        name for name, value in WORKER_ENV.items() if value is not None and not resolved(value)
    ]
    assert empty == []


def test_the_containers_defaults_are_valid_settings(monkeypatch, tmp_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in WORKER_ENV.items():
        if value is not None and name in SETTINGS:
            monkeypatch.setenv(name, resolved(value))
    monkeypatch.chdir(tmp_path)  # no .env

    settings = Settings()

    assert settings.temporal_address == "temporal:7233"
    assert settings.database_url and "@postgres:5432/" in settings.database_url
    scrape = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    workers = next(job for job in scrape if job["job_name"] == "agentic-worker")
    assert workers["dns_sd_configs"][0]["names"] == ["worker"]
    assert settings.metrics_address == f"0.0.0.0:{workers['dns_sd_configs'][0]['port']}"


def test_the_worker_scales_and_stops_gracefully():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=3
    assert worker["command"] == ["python", "worker.py"]
    grace = worker["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) > Settings.model_fields["worker_graceful_shutdown_seconds"].default


def test_the_setup_job_registers_the_engines_search_attributes():
    registered = dict(re.findall(r"--name (\w+) --type (\w+)", SETUP_SCRIPT))
    assert registered == SEARCH_ATTRIBUTES
    for job, step in [("temporal-schema", "schema"), ("temporal-setup", "namespace")]:
        assert SERVICES[job]["command"] == [step]
        assert "./deploy/temporal-setup.sh:/deploy/temporal-setup.sh:ro" in SERVICES[job]["volumes"]
    assert SERVICES["temporal-setup"]["environment"]["TEMPORAL_NAMESPACE"] == (
        "${TEMPORAL_NAMESPACE:-default}"
    )


def test_the_image_installs_the_project_without_dev_extras_and_runs_as_a_user():
    extras = re.search(r"^ARG EXTRAS=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert extras
    chosen = extras.group(1).split(",")
    assert "s3" in chosen and "dev" not in chosen
    assert set(chosen) <= set(PYPROJECT["project"]["optional-dependencies"])
    assert 'pip install ".[${EXTRAS}]"' in DOCKERFILE
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert DOCKERFILE.rstrip().endswith('CMD ["python", "worker.py"]')
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", ".git", ".data", "workspace"} <= set(ignored)


def env_example_values() -> dict[str, str]:
    """NAME -> value of each assignment in .env.example, commented out or not."""
    return dict(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.MULTILINE))


def test_env_example_documents_every_variable():
    documented = env_example_values()
    assert [name for name in SETTINGS if name not in documented] == []
    compose_variables = set(INTERPOLATION.findall(COMPOSE_FILE.read_text()))
    assert [name for name, _ in sorted(compose_variables) if name not in documented] == []
    active = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.MULTILINE)
    assert [name for name, value in active if not value.strip()] == []


def test_env_example_values_are_valid_settings(monkeypatch, tmp_path):
    # Every example uncommented at once, but for what the user makes: a key, mounted files.
    for name, value in env_example_values().items():
        if name in SETTINGS and name not in UNCHECKED_EXAMPLES:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env

    settings = Settings()

    assert settings.worker_build_id and settings.llm_endpoints and settings.llm_prices


def compose_errors(compose: dict[str, Any]) -> list[str]:
    """What the Compose specification's JSON Schema finds wrong in a compose file, each as
    `path: message` (the check `docker compose config` makes, without Docker)."""
    validator = validator_for(COMPOSE_SCHEMA)(COMPOSE_SCHEMA)
    # best_match: of an error under oneOf, the branch that explains it.
    errors = [best_match([error]) for error in validator.iter_errors(compose)]
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors if e)


def with_defaults(value: Any) -> Any:
    """A compose file's values as Compose reads them with none of its variables set."""
    if isinstance(value, dict):
        return {key: with_defaults(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_defaults(item) for item in value]
    return resolved(value) if isinstance(value, str) else value


def test_the_compose_file_follows_the_compose_specification():
    assert compose_errors(COMPOSE) == []
    assert compose_errors(with_defaults(COMPOSE)) == []
    # The worker's image is built from this repository's Dockerfile.
    build = SERVICES["worker"]["build"]
    context = build if isinstance(build, str) else build["context"]
    assert (COMPOSE_FILE.parent / context / "Dockerfile").resolve() == REPO / "Dockerfile"


def test_the_specification_check_finds_wrong_fields():
    broken = copy.deepcopy(COMPOSE)
    worker = broken["services"]["worker"]
    worker["restart_policy"] = "always"  # no such field: `restart`, or `deploy.restart_policy`
    worker["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["temporal"]["healthcheck"]["intervall"] = "5s"

    errors = compose_errors(broken)

    misspelt = "services/temporal/healthcheck: 'intervall' does not match any of the regexes"
    assert any(error.startswith(misspelt) for error in errors), errors
    assert any(
        error.startswith("services/worker/depends_on/postgres/condition: 'service_ready' is not")
        for error in errors
    ), errors
    assert any(
        error.startswith("services/worker: ") and "'restart_policy'" in error for error in errors
    ), errors
