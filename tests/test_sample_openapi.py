"""The sample API describes itself: GET /openapi.json is a valid OpenAPI 3.1 document whose
server is the address asked, and the API's answers match the document's schemas."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def response_schema(path: str, method: str, status: str) -> dict[str, str]:
    """A reference to a response's JSON schema in the document (its own $refs resolve there)."""
    steps = ["paths", path, method, "responses", status, "content", "application/json", "schema"]
    pointer = "/".join(step.replace("~", "~0").replace("/", "~1") for step in steps)
    return {"$ref": f"urn:sample-openapi#/{pointer}"}


def matches(document: dict[str, Any], schema: dict[str, str], value: Any) -> None:
    resource = Resource.from_contents(document, DRAFT202012)
    registry = Registry().with_resource("urn:sample-openapi", resource)
    jsonschema.Draft202012Validator(schema, registry=registry).validate(value)


def test_the_sample_api_serves_a_valid_openapi_document_that_its_answers_match(sample_api):
    document = httpx.get(f"{sample_api.url}/openapi.json").json()

    validate(document)  # OpenAPI 3.1, as openapi-spec-validator reads it
    assert document["servers"] == [{"url": sample_api.url}]
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert {"listUsers", "listUserPages", "listUserOrders", "createToken", "listOrders",
            "submitJob", "getJob", "getJobResult"} == operations  # fmt: skip
    answers = {
        ("/users", "200"): httpx.get(f"{sample_api.url}/users"),
        ("/users/pages", "200"): httpx.get(f"{sample_api.url}/users/pages?limit=3"),
        ("/users/{user_id}/orders", "200"): httpx.get(f"{sample_api.url}/users/5/orders"),
        ("/users/{user_id}/orders", "404"): httpx.get(f"{sample_api.url}/users/999/orders"),
        ("/orders", "401"): httpx.get(f"{sample_api.url}/orders"),
    }
    for (path, status), answer in answers.items():
        assert str(answer.status_code) == status, path
        matches(document, response_schema(path, "get", status), answer.json())
