"""``GET /mlops/api/whoami`` on the tracking server: who a token belongs to and what its role may do.

The web UI asks this to sign a person in (a wrong token gets the usual 401) and to hide the
controls their role may not use; the answer comes from the Authorizer itself, so the page and
the server never disagree. Hiding is a courtesy: every endpoint checks the role again.
"""
from __future__ import annotations

import inspect

import tornado.web

from .auth import ACTION_WORDS, RESOURCE, authorized
from .handlers import MlopsHandler


class WhoAmIHandler(MlopsHandler):
    """``{"name", "role", "may": {action: bool}}`` for the authenticated user (any role may ask)."""

    @tornado.web.authenticated
    async def get(self):
        user = self.current_user
        may = {}
        for action in ACTION_WORDS:
            allowed = self.authorizer.is_authorized(self, user, action, RESOURCE)
            may[action] = bool(await allowed if inspect.isawaitable(allowed) else allowed)
        self.set_header("Cache-Control", "no-store")
        self.reply({"name": user.username, "role": getattr(user, "role", None), "may": may})


def routes() -> list[tuple[str, type]]:
    return [(r"whoami", authorized(WhoAmIHandler))]
