"""Root fields of attachments."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import attachments as r
from schema.attachments import types as t
from schema.core.access import field, mutation


@strawberry.type
class AttachmentsQuery:
    attachment: t.Attachment = field(
        r.attachment,
        Rule.member,
        "One attachment: on a message of a conversation you may see, or your own pending upload.",
    )


@strawberry.type
class AttachmentsMutation:
    attachment_upload_create: t.AttachmentUploadCreatePayload = mutation(
        r.attachment_upload_create,
        Rule.member,
        "Ask to upload a file (images, audio, video, documents; size capped): returns a pending attachment and a "
        "short-lived presigned upload straight to storage. Attach it with messageCreate's attachmentIds; uploads "
        "that join no message are removed after a day.",
    )
