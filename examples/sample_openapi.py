"""The sample API's OpenAPI 3.1 document, served at GET /openapi.json (its server URL is the
address it was asked at), so that tools reading OpenAPI specs can be tried on it."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


PATHS: dict[str, Any] = {
    "/users": {
        "get": {
            "operationId": "listUsers",
            "summary": "The sample users",
            "responses": {
                "200": _json(
                    {"type": "array", "items": {"$ref": "#/components/schemas/User"}}, "Users"
                )
            },
        }
    },
    "/users/pages": {
        "get": {
            "operationId": "listUserPages",
            "summary": "The users page by page: pass `next` back as `cursor`",
            "parameters": [
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "the `next` of the previous page; none for the first page",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "default": 5},
                },
            ],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/UserPage"}, "One page"),
                "400": _error("cursor or limit is not a whole number"),
            },
        }
    },
    "/users/{user_id}/orders": {
        "get": {
            "operationId": "listUserOrders",
            "summary": "One user's orders (no token needed)",
            "parameters": [_path_id("user_id", "the user's id")],
            "responses": {
                "200": _json(
                    {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}, "Orders"
                ),
                "404": _error("no such user"),
            },
        }
    },
    "/auth/token": {
        "post": {
            "operationId": "createToken",
            "summary": "A bearer token for /orders (client demo, secret demo-secret)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Credentials"}}
                },
            },
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Token"}, "A token"),
                "401": _error("unknown client_id or wrong client_secret"),
            },
        }
    },
    "/orders": {
        "get": {
            "operationId": "listOrders",
            "summary": "Every order; needs a bearer token from POST /auth/token",
            "security": [{"bearer": []}],
            "responses": {
                "200": _json(
                    {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}, "Orders"
                ),
                "401": _error("missing or unknown bearer token"),
            },
        }
    },
    "/jobs": {
        "post": {
            "operationId": "submitJob",
            "summary": "Start a simulated job that is done after duration_seconds",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}
                },
            },
            "responses": {"202": _json({"$ref": "#/components/schemas/JobStatus"}, "Queued")},
        }
    },
    "/jobs/{job_id}": {
        "get": {
            "operationId": "getJob",
            "summary": "A job's status and progress",
            "parameters": [_path_id("job_id", "the id POST /jobs gave")],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/JobStatus"}, "The job"),
                "404": _error("no such job"),
            },
        }
    },
    "/jobs/{job_id}/result": {
        "get": {
            "operationId": "getJobResult",
            "summary": "A job's result once it is done",
            "parameters": [_path_id("job_id", "the id POST /jobs gave")],
            "responses": {
                "200": _json({"type": "object"}, "The result"),
                "404": _error("no such job"),
                "409": _error("the job is not done yet"),
            },
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
    "User": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "age": {"type": "integer"},
            "city": {"type": "string"},
        },
        "required": ["id", "name", "email", "age", "city"],
    },
    "UserPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
            "next": {"type": ["string", "null"]},
        },
        "required": ["items", "next"],
    },
    "Order": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "amount": {"type": "number"},
            "status": {"type": "string"},
        },
        "required": ["id", "user_id", "amount", "status"],
    },
    "Credentials": {
        "type": "object",
        "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}},
        "required": ["client_id", "client_secret"],
    },
    "Token": {
        "type": "object",
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer"},
        },
    },
    "JobRequest": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "parameters": {"type": "object"},
            "duration_seconds": {"type": "number", "default": 3},
        },
    },
    "JobStatus": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "running", "done"]},
            "progress": {"type": "number"},
        },
        "required": ["job_id", "status"],
    },
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The sample API's OpenAPI 3.1 document, its server at `server_url`."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentic sample API",
            "version": "1.0.0",
            "description": "Sample users, orders and jobs for the examples and the demo.",
        },
        "servers": [{"url": server_url}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
