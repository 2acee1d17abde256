"""The HTTP service (FastAPI); its OpenAPI spec is served at /openapi.json."""

from oasis.api.app import create_app

__all__ = ["create_app"]
