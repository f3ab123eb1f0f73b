"""job_execution: submit a job, watch it with durable timers until done, fetch its result."""

from __future__ import annotations

from typing import Any

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL

REPORT = """# Job report

- job: {{ tasks.submit.output.body.job_id }}
- final status: {{ tasks.monitor.output.body.status }}
- result: {{ tasks.result.output.body.result }}
"""


def job_execution(
    base_url: str = DEFAULT_URL,
    job_type: str = "data_processing",
    parameters: dict[str, Any] | None = None,
    duration_seconds: float = 3,
    interval: float = 1,
    timeout: float = 120,
    report_path: str = "jobs/report.md",
) -> Plan:
    """POST /jobs, poll GET /jobs/<id> until done, GET its result, write a report."""
    job_url = f"{base_url}/jobs/{{{{ tasks.submit.output.body.job_id }}}}"
    submission = {
        "type": job_type,
        "parameters": parameters or {"input": "users.json", "output": "adults.json"},
        "duration_seconds": duration_seconds,
    }
    tasks = [
        {"id": "submit", "name": "Submit the job", "action_type": "api_call",
         "action_config": {"method": "POST", "url": f"{base_url}/jobs", "json": submission}},
        {"id": "monitor", "name": "Wait until the job is done", "action_type": "poll",
         "action_config": {"request": {"method": "GET", "url": job_url},
                           "until": "body.status == 'done'", "interval": interval,
                           "timeout": timeout},
         "depends_on": ["submit"]},
        {"id": "result", "name": "Fetch the result", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{job_url}/result"},
         "depends_on": ["submit", "monitor"]},
        {"id": "report", "name": "Write the report", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": report_path, "content": REPORT},
         "depends_on": ["submit", "monitor", "result"]},
    ]  # fmt: skip
    return Plan.model_validate({"goal": f"Run a {job_type} job on {base_url}", "tasks": tasks})
