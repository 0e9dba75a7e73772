"""Resolvers of partner apps and of the caller's rate limit."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.schema.schema import validate_document
from strawberry.types import Info

from db.repositories import partners as repo
from domain.partners import service
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.extensions.cost import measure
from schema.partners import inputs as i
from schema.partners import types as t
from schema.partners.errors import PartnerError, PartnerErrorCode

Ctx = Info[Context, None]


_errors = PayloadErrors(PartnerError, PartnerErrorCode)


async def _app_view(session, account_id: int, app) -> t.PartnerApp:
    tokens = await repo.tokens_of_apps(session, account_id, [app.id])
    manifests = await repo.manifests_of_apps(session, account_id, [app.id])
    return t.PartnerApp.from_row(app, tokens, manifests)


# --- queries ---------------------------------------------------------------------------------------------


async def partner_apps(info: Ctx) -> list[t.PartnerApp]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        apps = await repo.apps_of_account(session, actor.account_id)
        ids = [a.id for a in apps]
        tokens = await repo.tokens_of_apps(session, actor.account_id, ids) if ids else []
        manifests = await repo.manifests_of_apps(session, actor.account_id, ids) if ids else []
    return [
        t.PartnerApp.from_row(
            a, [x for x in tokens if x.partner_app_id == a.id], [m for m in manifests if m.partner_app_id == a.id]
        )
        for a in apps
    ]


async def rate_limit(info: Ctx) -> t.RateLimit | None:
    caller = getattr(info.context, "caller", None)
    report = getattr(caller, "cost", None)
    if report is None:
        return None
    return t.RateLimit(
        cost=report.cost,
        max_cost=report.max_cost,
        limit=report.limit,
        used=report.used,
        remaining=report.remaining,
        reset_at=report.reset_at,
    )


# --- mutations -------------------------------------------------------------------------------------------


async def partner_app_create(info: Ctx, input: i.PartnerAppCreateInput) -> t.PartnerAppPayload:
    actor = await info.context.actor()

    async def work(session) -> t.PartnerAppPayload:
        app = await service.create_app(
            session, actor, name=input.name, description=input.description, meta=info.context.meta
        )
        return t.PartnerAppPayload(partner_app=t.PartnerApp.from_row(app), errors=[])

    return await mutate(info, _errors, work, lambda e: t.PartnerAppPayload(partner_app=None, errors=e))


async def partner_app_update(info: Ctx, id: strawberry.ID, input: i.PartnerAppUpdateInput) -> t.PartnerAppPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "PartnerApp")

    async def work(session) -> t.PartnerAppPayload:
        app = await service.update_app(
            session,
            actor,
            pk,
            name=input.name,
            description=input.description,
            disabled=input.disabled,
            meta=info.context.meta,
        )
        return t.PartnerAppPayload(partner_app=await _app_view(session, actor.account_id, app), errors=[])

    return await mutate(info, _errors, work, lambda e: t.PartnerAppPayload(partner_app=None, errors=e))


async def partner_token_create(info: Ctx, input: i.PartnerTokenCreateInput) -> t.PartnerTokenCreatePayload:
    actor = await info.context.actor()
    app_pk = decode_id(input.partner_app_id, "PartnerApp")

    async def work(session) -> t.PartnerTokenCreatePayload:
        row, secret = await service.create_token(session, actor, app_pk, name=input.name, meta=info.context.meta)
        return t.PartnerTokenCreatePayload(partner_token=t.PartnerToken.from_row(row), secret=secret, errors=[])

    return await mutate(
        info, _errors, work, lambda e: t.PartnerTokenCreatePayload(partner_token=None, secret=None, errors=e)
    )


async def partner_token_revoke(info: Ctx, id: strawberry.ID) -> t.PartnerTokenRevokePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "PartnerToken")

    async def work(session) -> t.PartnerTokenRevokePayload:
        row = await service.revoke_token(session, actor, pk, info.context.meta)
        return t.PartnerTokenRevokePayload(partner_token=t.PartnerToken.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.PartnerTokenRevokePayload(partner_token=None, errors=e))


def operation_validator(info: Ctx) -> service.Validator:
    """Checks an operation as a partner will run it: one operation, valid against the schema as it is
    now, within the partner limits, no introspection unless partners may introspect."""
    schema = info.schema._schema
    settings = info.context.settings
    limits = settings.query_limits("partner")
    rules = tuple(specified_rules)
    policy = settings.introspection_policy
    if policy.value != "true":
        rules = (*rules, NoSchemaIntrospectionCustomRule)

    def validate(body: str) -> list[str]:
        try:
            document = parse(body, max_tokens=limits["max_tokens"])
        except GraphQLError as exc:
            return [exc.message]
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            return ["A registered document must hold exactly one operation"]
        _cost, problems = measure(schema, document, None, None, limits)
        if problems:
            return [p.message for p in problems]
        return [e.message for e in validate_document(schema, document, rules)]

    return validate


async def partner_manifest_upload(info: Ctx, input: i.PartnerManifestUploadInput) -> t.PartnerManifestUploadPayload:
    actor = await info.context.actor()
    app_pk = decode_id(input.partner_app_id, "PartnerApp")
    validate = operation_validator(info)

    async def work(session) -> t.PartnerManifestUploadPayload:
        result = await service.upload_manifest(
            session,
            actor,
            app_pk,
            text=input.manifest,
            validate=validate,
            skip_invalid=input.skip_invalid,
            meta=info.context.meta,
        )
        problems = [
            t.PartnerOperationProblem(document_id=op.document_id, name=op.name, messages=op.problems)
            for op in result.invalid
        ]
        app = await _app_view(session, actor.account_id, result.app)
        if result.manifest is None:
            count = len(problems)
            return t.PartnerManifestUploadPayload(
                manifest=None,
                partner_app=app,
                invalid_operations=problems,
                errors=[
                    PartnerError(
                        field="manifest",
                        code=PartnerErrorCode.INVALID_OPERATIONS,
                        message=f"{count} operation(s) do not validate; nothing was stored "
                        "(fix them, or upload with skipInvalid)",
                    )
                ],
            )
        manifest = t.PartnerManifest.from_row(result.manifest, result.app.current_version)
        return t.PartnerManifestUploadPayload(
            manifest=manifest, partner_app=app, invalid_operations=problems, errors=[]
        )

    return await mutate(
        info,
        _errors,
        work,
        lambda e: t.PartnerManifestUploadPayload(manifest=None, partner_app=None, invalid_operations=[], errors=e),
    )


async def partner_manifest_activate(info: Ctx, input: i.PartnerManifestActivateInput) -> t.PartnerAppPayload:
    actor = await info.context.actor()
    app_pk = decode_id(input.partner_app_id, "PartnerApp")

    async def work(session) -> t.PartnerAppPayload:
        app = await service.activate_manifest(session, actor, app_pk, input.version, info.context.meta)
        return t.PartnerAppPayload(partner_app=await _app_view(session, actor.account_id, app), errors=[])

    return await mutate(info, _errors, work, lambda e: t.PartnerAppPayload(partner_app=None, errors=e))
