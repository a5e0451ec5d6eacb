"""Schemathesis over the API's own OpenAPI schema, signed in as two users (issue 4, item 4).

Every operation is fuzzed with valid (positive) and invalid (negative)
inputs as Alice on her own path, and every request is replayed without a
token, with forged and made-up ones, and with Bob's token. A stateful run
then follows the lifecycle links (create → get → update → delete), switching
between the two users, and checks that a deleted task is never served again
and that one user's task ids are never served to the other.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.fuzz.conftest import FUZZ_EXAMPLES, STATEFUL_STEPS, Caller, budget, seeded
from tests.fuzz.gates import assert_auth_enforced, assert_no_server_error, describe, send
from tests.fuzz.links import TASK, TASKS, TOGGLE, with_lifecycle_links
from tests.fuzz.threaded import ThreadedClient
from tests.support.tokens import SigningKey

OPERATIONS = [
    ("GET", "/api/me"),
    ("GET", TASKS),
    ("POST", TASKS),
    ("GET", TASK),
    ("PUT", TASK),
    ("PATCH", TASK),
    ("PATCH", TOGGLE),
    ("DELETE", TASK),
]
# Authorization values an attacker might try: any text, or something shaped like a token.
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MADE_UP_AUTHORIZATION = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200),
    st.builds(
        "Bearer {}.{}.{}".format,
        *(st.text(_B64URL, min_size=1, max_size=120) for _ in range(3)),
    ),
    st.builds("Bearer eyJ{}".format, st.text(_B64URL + ".=+/ ", max_size=300)),
)
# Not per user, and with no input to fuzz.
UNAUTHENTICATED = {("GET", "/health"), ("GET", "/ready")}


@pytest.fixture(scope="module")
def raw_schema(fuzz_client: ThreadedClient) -> dict[str, Any]:
    """The schema the running app serves, which is what clients are generated from."""
    response = fuzz_client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


@pytest.fixture(scope="module")
def fuzz_schema(raw_schema: dict[str, Any]) -> OpenApiSchema:
    # The Authorization header is the test's to set (a real token, or one of the replays'),
    # so Schemathesis generates none; the made-up ones come from ``MADE_UP_AUTHORIZATION``.
    # Only the lifecycle links are followed: links Schemathesis infers from list responses
    # draw differently as the list fills up, which Hypothesis reports as a flaky strategy.
    config = schemathesis.Config.from_dict(
        {
            "generation": {"mode": "positive", "with-security-parameters": False},
            "phases": {"stateful": {"inference": {"algorithms": []}}},
        }
    )
    return schemathesis.openapi.from_dict(with_lifecycle_links(raw_schema), config=config)


@pytest.fixture
def attacker() -> SigningKey:
    """A key under the real kid that the JWKS never published."""
    return SigningKey(kid="test-key-1")


def test_every_operation_of_the_schema_is_fuzzed(raw_schema: dict[str, Any]) -> None:
    served = {
        (method.upper(), path)
        for path, operations in raw_schema["paths"].items()
        for method in operations
    }
    assert served == set(OPERATIONS) | UNAUTHENTICATED


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [
        (method, path, mode)
        for method, path in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if path != "/api/me" or mode is GenerationMode.POSITIVE  # it has no input to negate
    ],
    ids=lambda value: str(value),
)
def test_operation_holds_the_gates(
    fuzz_client: ThreadedClient,
    fuzz_schema: OpenApiSchema,
    callers: tuple[Caller, Caller],
    attacker: SigningKey,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    owner, other = callers
    own_path = {"user_id": owner.id} if "{user_id}" in path else None
    strategy = fuzz_schema[path][method].as_strategy(generation_mode=mode, path_parameters=own_path)

    @seeded
    @budget(FUZZ_EXAMPLES)
    @given(case=strategy, made_up=MADE_UP_AUTHORIZATION)
    def holds(case: Case, made_up: str) -> None:
        own = send(fuzz_client, case, owner.authorization())
        assert_no_server_error(case, own)
        if mode is GenerationMode.NEGATIVE:
            # Invalid input is rejected with a 4xx (Schemathesis knows which inputs are invalid).
            case.validate_response(own, checks=[negative_data_rejection])
        assert_auth_enforced(
            fuzz_client,
            case,
            own,
            other=other if own_path else None,
            attacker=attacker,
            owner=owner,
            made_up=made_up,
        )

    holds()


def test_lifecycle_links_are_followed(
    raw_schema: dict[str, Any], fuzz_schema: OpenApiSchema
) -> None:
    """The stateful run below is only as good as its links: each one became a rule."""
    added = [
        (name, source)
        for source, operations in with_lifecycle_links(raw_schema)["paths"].items()
        for operation in operations.values()
        for response in operation["responses"].values()
        for name in response.get("links", {})
    ]
    assert len(added) == 6 * 5 + 5 * 3  # every source to every target, and If-Match variants
    rules = [name for name in dir(fuzz_schema.as_state_machine()) if "___" in name]
    for name, _source in added:
        assert any(f"_{name}__" in rule for rule in rules), (name, rules)


def test_stateful_lifecycle_holds_the_gates(
    fuzz_client: ThreadedClient,
    fuzz_schema: OpenApiSchema,
    callers: tuple[Caller, Caller],
    attacker: SigningKey,
) -> None:
    alice, bob = callers
    other_of = {alice.id: bob, bob.id: alice}
    seen: Counter[str] = Counter()  # what the run exercised, to show that it did

    class Lifecycle(fuzz_schema.as_state_machine()):  # type: ignore[misc]
        """Each step runs as the task's owner, except every third, which runs as the other."""

        def setup(self) -> None:
            self.scenario = uuid.uuid4().hex[:8]
            self.steps = 0
            self.owner_of: dict[str, Caller] = {}
            self.deleted: set[str] = set()
            self.caller_of: dict[str, Caller] = {}

        def before_call(self, case: Case) -> None:
            task_id = (case.path_parameters or {}).get("task_id")
            owner = self.owner_of.get(str(task_id)) or (alice, bob)[self.steps // 3 % 2]
            caller = other_of[owner.id] if self.steps % 3 == 2 else owner
            self.steps += 1
            if case.path_parameters is not None and "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = caller.id
            if case.headers and "idempotency-key" in case.headers:
                # Keys live 24 hours: one reused from an earlier scenario would replay (or
                # refuse) there, and scenarios must not depend on each other.
                case.headers["idempotency-key"] += f"-{self.scenario}"
            self.caller_of[case.id] = caller

        def call(self, case: Case, **kwargs: Any) -> schemathesis.Response:
            caller = self.caller_of[case.id]
            own = send(fuzz_client, case, caller.authorization())
            assert_no_server_error(case, own)
            self._check_lifecycle(case, caller, own)
            assert_auth_enforced(
                fuzz_client,
                case,
                own,
                other=other_of[caller.id],
                attacker=attacker,
                owner=caller,
            )
            return schemathesis.Response.from_any(own)

        def validate_response(
            self, response: schemathesis.Response, case: Case, *args: Any, **kwargs: Any
        ) -> None:
            return None  # the gates already ran in call()

        def _check_lifecycle(self, case: Case, caller: Caller, response: httpx.Response) -> None:
            task_id = str((case.path_parameters or {}).get("task_id"))
            if case.method == "POST" and response.status_code == 201:
                self.owner_of[response.json()["id"]] = caller
                seen["created"] += 1
                return
            gone = task_id in self.deleted
            foreign = task_id in self.owner_of and self.owner_of[task_id] is not caller
            if gone or foreign:
                # Deleted, or someone else's: 404 as for an id that never existed
                # (422 only when the body itself is invalid).
                assert response.status_code in {404, 422}, describe(case, response)
                if case.method == "GET":
                    assert response.status_code == 404, describe(case, response)
                seen["after_delete" if gone else "other_users_task"] += 1
                return
            if task_id in self.owner_of and response.is_success:
                seen[f"{case.method} own task"] += 1
            if case.method == "DELETE" and response.status_code == 204:
                self.deleted.add(task_id)
                assert_gone(fuzz_client, caller, task_id)

    machine: Any = seeded(Lifecycle)
    # Generation only, as Schemathesis runs its own stateful phase: a scenario's inputs come
    # from the app's earlier answers, so Hypothesis cannot replay it to shrink it. Scenarios
    # vary in length, so no deadline; each request still times out after 30 s.
    settings = budget(
        FUZZ_EXAMPLES,
        stateful_step_count=STATEFUL_STEPS,
        phases=[hypothesis.Phase.generate],
        deadline=None,
    )
    machine.run(settings=settings)

    exercised = {"created", "GET own task", "DELETE own task", "after_delete", "other_users_task"}
    assert exercised <= set(seen), dict(seen)
    assert {"PUT own task", "PATCH own task"} & set(seen), dict(seen)


def assert_gone(client: ThreadedClient, caller: Caller, task_id: str) -> None:
    """After a 204, the task is neither readable nor listed."""
    url = f"/api/{caller.id}/tasks"
    headers = {"Authorization": caller.authorization()}
    read = client.get(f"{url}/{task_id}", headers=headers)
    assert read.status_code == 404, read.text
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, headers=headers, params=params)
        assert page.status_code == 200, page.text
        assert task_id not in {task["id"] for task in page.json()["items"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return
