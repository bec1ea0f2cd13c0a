"""Users over REST, for admins (``jupyter mlops users`` does the same on the server's machine).

``GET users`` lists them, ``POST users {"name", "role"}`` issues a token (in the answer, once),
``DELETE users/NAME`` removes one. An admin cannot remove itself here: the last admin gone, only
the command line on the server could add one again.
"""
from __future__ import annotations

from typing import ClassVar

import tornado.web

from . import users
from .handlers import MlopsHandler, text_field
from .refusals import Refusal


class UsersHandler(MlopsHandler):
    mlops_actions: ClassVar[dict[str, str]] = {"GET": "admin", "POST": "admin"}

    @tornado.web.authenticated
    async def get(self):
        self.reply({"users": await self.call(users.list_users, self.store)})

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("name", "role")
        name, role = text_field(body, "name", 128), text_field(body, "role", 16)
        try:
            token = await self.call(users.add_user, self.store, name, role, self.current_user.username)
        except users.UserExistsError as exc:
            raise Refusal(409, str(exc)) from exc
        self.set_status(201)
        self.reply({"name": name, "role": role, "token": token})


class UserHandler(MlopsHandler):
    mlops_actions: ClassVar[dict[str, str]] = {"GET": "admin", "DELETE": "admin"}

    @tornado.web.authenticated
    async def delete(self, name):
        if name == self.current_user.username:
            raise Refusal(409, "an admin cannot remove itself; another admin, or jupyter mlops users remove "
                               "on the server, can")
        try:
            await self.call(users.remove_user, self.store, name)
        except users.UnknownUserError as exc:
            raise Refusal(404, str(exc)) from exc
        self.reply({"removed": name})


def routes() -> list[tuple[str, type]]:
    from .auth import authorized

    return [(r"users", authorized(UsersHandler)), (r"users/(?P<name>[^/]+)", authorized(UserHandler))]
