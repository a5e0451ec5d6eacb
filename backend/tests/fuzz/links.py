"""OpenAPI links for the task lifecycle, added to a copy of FastAPI's schema.

FastAPI emits no links, and Schemathesis's stateful phase follows only links
(explicit, or inferred from ``Location`` headers, which this API does not
send). These name the chain issue 4 asks for: create → get → update → delete,
with every step able to follow every other, and a delete followed by reads
and writes of the id it just deleted.
"""

from __future__ import annotations

import copy
from typing import Any

TASKS = "/api/{user_id}/tasks"
TASK = "/api/{user_id}/tasks/{task_id}"
TOGGLE = "/api/{user_id}/tasks/{task_id}/complete"

# Link name → (method, path) of its target.
TARGETS: dict[str, tuple[str, str]] = {
    "GetTask": ("GET", TASK),
    "ReplaceTask": ("PUT", TASK),
    "PatchTask": ("PATCH", TASK),
    "ToggleTask": ("PATCH", TOGGLE),
    "DeleteTask": ("DELETE", TASK),
}
# Source (method, path, status) → where its task id comes from.
SOURCES: dict[tuple[str, str, str], str] = {
    ("POST", TASKS, "201"): "$response.body#/id",
    ("GET", TASK, "200"): "$response.body#/id",
    ("PUT", TASK, "200"): "$response.body#/id",
    ("PATCH", TASK, "200"): "$response.body#/id",
    ("PATCH", TOGGLE, "200"): "$response.body#/id",
    ("DELETE", TASK, "204"): "$request.path.task_id",
}


def with_lifecycle_links(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` whose task responses link to every operation on the same task."""
    schema = copy.deepcopy(raw)
    operation_ids = {
        (method.upper(), path): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    for (method, path, status), task_id in SOURCES.items():
        response = schema["paths"][path][method.lower()]["responses"][status]
        links: dict[str, Any] = {}
        for name, target in TARGETS.items():
            parameters = {"path.user_id": "$request.path.user_id", "path.task_id": task_id}
            links[name] = {"operationId": operation_ids[target], "parameters": parameters}
            if status != "204" and target[0] in {"PATCH", "DELETE"}:
                # The version just read: a write with it succeeds, an older one gets 412.
                conditional = {**parameters, "header.if-match": "$response.header.ETag"}
                links[f"{name}IfMatch"] = {
                    "operationId": operation_ids[target],
                    "parameters": conditional,
                }
        response["links"] = links
    return schema
