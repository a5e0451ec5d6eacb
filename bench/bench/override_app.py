"""The benchmark's own app: Tandem with its verifier dependency overridden.

Started only by the "auth on the real route" benchmark, as
`uvicorn bench.override_app:create_app --factory --app-dir bench`. It is never a
setting of the product: the override lives here, in the benchmark, through
FastAPI's `dependency_overrides`. Everything after the verifier still runs: the
rate limit, the path check, the revocation check and row-level security.

`BENCH_VERIFIER=replaced` overrides the task routes' dependency,
`tandem.deps.path_owner` (verify, then the path check), with a function that takes
a fixed principal instead of verifying one, then makes the same path check.
`BENCH_VERIFIER=real` overrides it with itself: the real verifier, through the same
override machinery. The second is the control:
as soon as an app has any override, FastAPI re-inspects every dependency of every
request, so only two instances that both have one differ by the verifier alone.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request
from tandem.deps import Caller, path_owner
from tandem.main import create_app as create_tandem_app
from tandem_auth import Principal
from tandem_auth.fastapi import require_user

MODE_VARIABLE = "BENCH_VERIFIER"
SUB_VARIABLE = "BENCH_PRINCIPAL_SUB"
SID_VARIABLE = "BENCH_PRINCIPAL_SID"


def create_app() -> FastAPI:
    app = create_tandem_app()
    if os.environ[MODE_VARIABLE] == "real":
        app.dependency_overrides[path_owner] = path_owner
        return app
    principal = Principal(
        sub=os.environ[SUB_VARIABLE],
        sid=os.environ[SID_VARIABLE],
        email=None,
        name=None,
        kid=None,
        expires_at=time.time() + 24 * 3600,
    )

    async def fixed_principal(request: Request) -> Caller:
        request.state.principal = principal  # as the real dependency leaves it
        require_user(principal, request.path_params["user_id"], request)
        return Caller(principal, request)

    app.dependency_overrides[path_owner] = fixed_principal
    return app
