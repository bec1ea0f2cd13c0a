"""REST handlers of approvals, registered models, their versions and aliases, and the audit log.

Who approves or moves an alias is the authenticated user (``MlopsHandler.actor``), never a field
of the body; the base class and the checks of request values are in handlers.py.
"""
from __future__ import annotations

import tornado.web

from .. import exceptions as errors
from . import (
    registry_views,
)
from .handlers import INT32_MAX, MlopsHandler, bounded_int, brief, text_field
from .refusals import Refusal


class ApprovalHandler(MlopsHandler):
    """POST ``{"decision": "approve"|"reject", "reason": ..., "force"?: true}``; GET the current record.

    The actor is the authenticated user (``actor()``). A ``by`` in the body names nobody: it is
    kept as a note after the reason. Rejecting a run whose version is in production needs
    ``"force": true`` (the panel asks first); without it the answer is 409 with ``"needs": "force"``."""

    @tornado.web.authenticated
    async def get(self, run_id):
        uuid = await self.call(self.store.resolve_run_id, run_id)
        record = await self.call(registry_views.approval_of, self.store, uuid)
        if record is None:
            raise Refusal(404, f"run {uuid} has no approval decision")
        self.reply(record)

    @tornado.web.authenticated
    async def post(self, run_id):
        body = self.json_body("decision", "reason")
        decision = text_field(body, "decision").lower()
        if decision not in ("approve", "reject"):
            raise Refusal(400, f"decision must be approve or reject, got {decision[:40]!r}")
        reason, claimed = text_field(body, "reason"), text_field(body, "by")
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise Refusal(400, f"force must be true or false, got {brief(force)}")
        actor = self.actor()
        if claimed and claimed != (actor or registry_views.default_actor()):
            reason = f"{reason} [the request said by: {claimed[:200]}]"
        uuid = await self.call(self.store.resolve_run_id, run_id)
        try:
            record = await self.call(registry_views.decide, self.store, uuid, decision, actor, reason, force=force)
        except errors.ApprovalRefusedError as exc:
            if decision == "reject":  # the only refusal of a reject: the run is live
                raise Refusal(409, str(exc), needs="force") from exc
            raise
        self.reply(record)


class PendingApprovalsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 50)
        self.reply({"runs": await self.call(registry_views.pending_approvals, self.store, limit)})


class ModelsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply({"models": await self.call(registry_views.models, self.store)})


class ModelVersionsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name):
        self.reply({"name": name, "versions": await self.call(registry_views.versions, self.store, name)})


class ModelVersionHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name, version):
        version = bounded_int("version", version, 1, INT32_MAX)
        self.reply(await self.call(registry_views.version_detail, self.store, name, version))


class VerifyHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name, version):
        version = bounded_int("version", version, 1, INT32_MAX)
        self.reply(await self.call(registry_views.verify, self.store, name, version))


class AliasHandler(MlopsHandler):
    """POST ``{"alias": "production", "version": 3}`` moves (or creates) an alias, as the
    authenticated user (a ``by`` in the body is ignored: the audit entry has no place for a note)."""

    @tornado.web.authenticated
    async def post(self, name):
        body = self.json_body("alias", "version")
        alias = text_field(body, "alias")
        version = bounded_int("version", body["version"], 1, INT32_MAX)
        await self.call(registry_views.set_alias, self.store, name, version, alias, self.actor())
        self.reply({"name": name, "alias": alias, "version": version,
                    "aliases": await self.call(registry_views.aliases_of, self.store, name)})


class AuditHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 100)
        subject = self.get_argument("subject", None) or None
        self.reply({"entries": await self.call(registry_views.audit, self.store, subject, limit)})
