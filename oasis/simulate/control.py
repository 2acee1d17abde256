"""The simulated fleet's control API: what remediation executors call.

    GET  /fleet                                  every service: version, replicas, calls
    GET  /fleet/services/{name}
    POST /fleet/services/{name}/rollback         {"action_id", "to_version"?}
    POST /fleet/services/{name}/restart          {"action_id"}
    POST /fleet/services/{name}/scale            {"action_id", "replicas"}
    GET  /fleet/actions                          what has been done, oldest first

Repeating an `action_id` returns the first result with `"repeated": true` and does nothing;
reusing it for a different action is a 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from oasis.simulate.fleet import Fleet, FleetError

ServiceName = Annotated[str, Path(description="Service name, as in GET /fleet")]


class ActionRequest(BaseModel):
    action_id: str = Field(min_length=1, max_length=200,
                           description="Caller's id for this action; repeats are answered, "
                                       "not re-run.")


class RollbackRequest(ActionRequest):
    to_version: str | None = Field(None, description="Default: the version before the current")


class ScaleRequest(ActionRequest):
    replicas: int = Field(ge=1, le=100)


def create_control_app(fleet: Fleet) -> FastAPI:
    """A FastAPI app exposing `fleet`'s state and its rollback / restart / scale actions."""
    app = FastAPI(title="OASIS simulated fleet", version="1",
                  summary="Control API of the simulated fleet used by the demo and tests.")

    @app.exception_handler(FleetError)
    async def fleet_error(request: Request, exc: FleetError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/fleet")
    def fleet_status() -> dict[str, Any]:
        return fleet.status()

    @app.get("/fleet/services/{name}")
    def service_status(name: ServiceName) -> dict[str, Any]:
        return fleet.service_status(name)

    @app.post("/fleet/services/{name}/rollback")
    def rollback(name: ServiceName, body: RollbackRequest) -> dict[str, Any]:
        return fleet.rollback(name, body.action_id, body.to_version)

    @app.post("/fleet/services/{name}/restart")
    def restart(name: ServiceName, body: ActionRequest) -> dict[str, Any]:
        return fleet.restart(name, body.action_id)

    @app.post("/fleet/services/{name}/scale")
    def scale(name: ServiceName, body: ScaleRequest) -> dict[str, Any]:
        return fleet.scale(name, body.action_id, body.replicas)

    @app.get("/fleet/actions")
    def actions() -> list[dict[str, Any]]:
        return [a.to_dict() for a in fleet.actions()]

    return app
