"""The web console: server-rendered pages over the same stores as the JSON API.

Wire it with `app.include_router(router)` and
`app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")`.
"""

from oasis.web.pages import router
from oasis.web.render import STATIC_DIR

__all__ = ["STATIC_DIR", "router"]
