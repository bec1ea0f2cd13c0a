"""Who is asking and what they may do on ``jupyter mlops server``: Jupyter Server's own extension points.

``StoreIdentityProvider`` reads the user behind an ``Authorization: Bearer <token>`` (or
``token <token>``; the scheme in any case) from the store's users table; ``RoleAuthorizer``
maps the user's role to the actions it allows. Every handler the server mounts names its
action per HTTP method in one table (``ACTIONS``), checked in one place (``AuthorizedHandler``),
so no handler carries a check of its own. Anything not in the table is refused.

Roles build on each other: a viewer reads; an editor also logs runs and starts pipelines; an
approver also approves, rejects and moves aliases; an admin also manages users.
"""
from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import ClassVar

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import Unicode

from ..tracking.store import open_store
from . import model_handlers, routes, run_handlers, users
from .handlers import _pool
from .refusals import Refusal

ROLE_ACTIONS = {
    "viewer": frozenset({"read"}),
    "editor": frozenset({"read", "log", "run"}),
    "approver": frozenset({"read", "log", "run", "approve", "alias"}),
    "admin": frozenset({"read", "log", "run", "approve", "alias", "admin"}),
}
ACTION_WORDS = {
    "read": "read the store", "log": "log runs", "run": "start pipelines", "approve": "approve or reject runs",
    "alias": "move model aliases", "admin": "manage users",
}
# Jupyter Server's own resources this server mounts (its "api" service: /api/status, /api/me).
JUPYTER_READABLE = frozenset({"api"})
RESOURCE = "mlops"
_SCHEME = re.compile(r"(token|bearer)\s+(\S+)\s*\Z", re.IGNORECASE)

# The lab handlers' methods and the action each needs (GET, when not named, is "read"). The
# handlers this server adds itself, and the lab's newer ones, declare theirs as ``mlops_actions``.
LAB_ACTIONS = {
    run_handlers.NoteHandler: {"POST": "log"},
    run_handlers.RunLifecycleHandler: {"POST": "log"},
    run_handlers.RunTagsHandler: {"POST": "log"},
    run_handlers.PipelineRerunHandler: {"POST": "run"},
    model_handlers.ApprovalHandler: {"POST": "approve"},
    model_handlers.AliasHandler: {"POST": "alias"},
}


@dataclasses.dataclass
class MlopsUser(User):
    """A Jupyter user with the role the store gives it."""

    role: str = "viewer"


class StoreIdentityProvider(IdentityProvider):
    """Users and their tokens from the store (``jupyter mlops users add``); no login page, no cookies."""

    store_uri = Unicode(None, allow_none=True, config=True, help="the tracking store holding the users")
    token = Unicode("")  # Jupyter's shared token names nobody: never accepted here

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return False

    def get_handlers(self) -> list:
        return []  # no login or logout pages: every request carries its token

    async def get_user(self, handler) -> MlopsUser | None:
        if getattr(handler, "_jupyter_current_user", None):
            return handler._jupyter_current_user
        match = _SCHEME.match(handler.request.headers.get("Authorization", ""))
        if match is None:
            return None
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(_pool, users.user_for_token, open_store(self.store_uri), match.group(2))
        if found is None:
            return None
        handler._token_authenticated = True  # a header, never a cookie: no XSRF to check
        return MlopsUser(username=found["name"], name=found["name"], display_name=found["name"], role=found["role"])

    def should_check_origin(self, handler) -> bool:
        # Jupyter skips the origin check for token-authenticated requests; here every request has
        # a token, so a browser page elsewhere would pass. Checked always (scripts send no Origin).
        return True

    def is_token_authenticated(self, handler) -> bool:
        return getattr(handler, "_token_authenticated", False)


class RoleAuthorizer(Authorizer):
    """Our actions by role (``ROLE_ACTIONS``); of Jupyter's own resources only reading ``api``."""

    def is_authorized(self, handler, user, action: str, resource: str) -> bool:
        role = getattr(user, "role", None)
        if resource == RESOURCE:
            return action in ROLE_ACTIONS.get(role, ())
        return role in ROLE_ACTIONS and resource in JUPYTER_READABLE and action == "read"


def lowest_role(action: str) -> str:
    return next(role for role, actions in ROLE_ACTIONS.items() if action in actions)


class AuthorizedHandler:
    """Mixed in before a handler class: refuses a foreign Host or Origin with a JSON message, then
    asks the Authorizer for the action its table names for the method (none named: refused)."""

    mlops_actions: ClassVar[dict[str, str]] = {}

    async def prepare(self):
        if not self.check_host():
            raise Refusal(403, f"Host {self.request.host[:100]!r} is not one of this server's names "
                               "(jupyter mlops server --allowed-host NAME)")
        if self.request.method == "OPTIONS":  # a browser's preflight: answered, never acted on
            return await super().prepare()
        if not self.check_origin():
            raise Refusal(403, f"cross-origin request from {self.request.headers.get('Origin', '')[:100]!r} refused "
                               "(jupyter mlops server --allow-origin URL)")
        user = await self.identity_provider.get_user(self)
        if user is None:
            raise Refusal(401, "authentication required: send 'Authorization: Bearer <token>' "
                               "(an admin issues tokens with: jupyter mlops users add NAME --role ROLE)")
        self._jupyter_current_user = user  # Jupyter's prepare takes it from here
        await super().prepare()
        method = self.request.method
        action = self.mlops_actions.get(method) or ("read" if method in ("GET", "HEAD") else None)
        if action is None:
            raise Refusal(405, f"{method} is not allowed here")
        if not await _maybe_await(self.authorizer.is_authorized(self, user, action, RESOURCE)):
            raise Refusal(403, f"user {user.username!r} ({getattr(user, 'role', 'no role')}) may not "
                               f"{ACTION_WORDS[action]}; that needs the {lowest_role(action)} role")


    def write_error(self, status_code: int, **kwargs) -> None:
        if status_code == 401:  # set here: tornado clears the headers before writing an error
            self.set_header("WWW-Authenticate", 'Bearer realm="jupyter_mlops"')
        super().write_error(status_code, **kwargs)


async def _maybe_await(value):
    return await value if asyncio.iscoroutine(value) else value


def authorized(handler: type, actions: dict[str, str] | None = None) -> type:
    """``handler`` with the checks of ``AuthorizedHandler`` and its ``actions`` table."""
    table = actions if actions is not None else getattr(handler, "mlops_actions", {})
    return type(handler.__name__, (AuthorizedHandler, handler), {"mlops_actions": dict(table)})


def authorized_lab_routes() -> list[tuple[str, type]]:
    """The JupyterLab extension's routes, the same handlers, each behind the role check."""
    return [(pattern, authorized(handler, LAB_ACTIONS.get(handler))) for pattern, handler in routes.routes()]
