"""Inputs of attachments mutations and queries."""

from __future__ import annotations

import strawberry


@strawberry.input(description="Ask to upload a file for a message.")
class AttachmentUploadCreateInput:
    file_name: str = strawberry.field(description="The file's name (at most 255 characters are kept).")
    content_type: str = strawberry.field(
        description="MIME type: images, audio, video and documents (PDF, text, CSV, JSON, RTF, office, archives)."
    )
    byte_size: int = strawberry.field(
        description="Exact size in bytes; at most the server's upload limit (40 MB by default)."
    )
