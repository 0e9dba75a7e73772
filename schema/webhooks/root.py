"""Root fields of account webhooks (deliveries and attempts included) and of dead jobs, merged into the
schema's Query and Mutation. Administrators only."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import webhooks as r
from schema.core.access import field, mutation
from schema.core.pagination import Connection
from schema.webhooks import types as t


@strawberry.type
class WebhooksQuery:
    webhooks: Connection[t.Webhook] = field(r.webhooks, Rule.administrator, "The account's webhooks, oldest first.")
    webhook: t.Webhook = field(r.webhook, Rule.administrator, "One webhook of the account; NOT_FOUND for any other ID.")
    webhook_deliveries: Connection[t.WebhookDelivery] = field(
        r.webhook_deliveries, Rule.administrator, "A webhook's deliveries, newest first, each with its attempts."
    )
    webhook_attempts: Connection[t.WebhookAttempt] = field(
        r.webhook_attempts, Rule.administrator, "Every try of a webhook's deliveries, newest first."
    )
    dead_jobs: Connection[t.DeadJob] = field(
        r.dead_jobs, Rule.administrator, "Background jobs of the account that failed for good, newest first."
    )


@strawberry.type
class WebhooksMutation:
    webhook_create: t.WebhookSecretPayload = mutation(
        r.webhook_create,
        Rule.administrator,
        f"Create a webhook; the payload shows its signing secret once. {t.MAX_WEBHOOKS_NOTE}",
    )
    webhook_update: t.WebhookPayload = mutation(
        r.webhook_update,
        Rule.administrator,
        "Change a webhook's URL, events, description or inbox filter, or disable/enable it.",
    )
    webhook_delete: t.WebhookPayload = mutation(
        r.webhook_delete, Rule.administrator, "Delete a webhook with its deliveries and attempts."
    )
    webhook_secret_rotate: t.WebhookSecretPayload = mutation(
        r.webhook_secret_rotate,
        Rule.administrator,
        "Replace a webhook's signing secret; the payload shows the new one once, and it signs every request from now on.",
    )
    webhook_test: t.WebhookDeliveryPayload = mutation(
        r.webhook_test,
        Rule.administrator,
        "Send a `webhook_test` ping (once, no retries); see its attempt in webhookAttempts.",
    )
    webhook_redeliver: t.WebhookDeliveryPayload = mutation(
        r.webhook_redeliver,
        Rule.administrator,
        "Send a delivery once more, now, with the same body and `webhook-id` (receivers dedupe on it).",
    )
    dead_job_retry: t.DeadJobRetryPayload = mutation(
        r.dead_job_retry, Rule.administrator, "Queue a dead job again with the arguments it had."
    )
