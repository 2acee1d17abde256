"""`GET /readyz`: whether a load balancer should send this replica traffic.

Ready when the state database answers at this code's schema revision and the signal store
answers; 503 with the problems otherwise. `/healthz` says the process is up (liveness);
this says it can serve (readiness). The body also names the loops this replica runs now
(the leases it holds) and those it stands by for, so an operator sees which replica is the
monitor.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oasis import schema
from oasis.api.deps import ServicesDep
from oasis.runtime.services import Services

router = APIRouter(tags=["health"])


def _problems(services: Services) -> list[str]:
    problems = []
    try:
        schema.check(services.incidents.engine)
    except schema.SchemaMismatch as exc:
        problems.append(exc.message)
    except sa.exc.SQLAlchemyError as exc:
        problems.append(f"the state database does not answer: {type(exc).__name__}")
    try:
        services.store.latest_timestamp()
    except Exception as exc:  # any failure of the store means: not ready
        problems.append(f"the signal store does not answer: {type(exc).__name__}")
    return problems


@router.get("/readyz", responses={503: {"description": "not ready; `problems` says why"}})
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    problems = await run_in_threadpool(_problems, services)
    loops = getattr(request.app.state, "loops", None)
    body = {
        "status": "not ready" if problems else "ready",
        "problems": problems,
        "replica": loops.leader.holder if loops else None,
        "runs": sorted(loops.leader.held) if loops else [],
        # Leases another replica holds and this one waits to take over if it dies.
        "standby": sorted(loops.leader.standby) if loops else [],
    }
    return JSONResponse(body, status_code=503 if problems else 200)
