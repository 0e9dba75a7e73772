"""Reading operation manifests: Apollo's persisted query manifest and Relay's `{id: body}` JSON.

Each operation gets its document id (as the client will send it), the SHA-256 of its body and its
kind; ids that look like a SHA-256 must be the hash of their body (Apollo's default ids), so a
partner cannot register one body under another body's hash."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from domain.partners.enums import ManifestFormat, OperationKind

MAX_OPERATIONS = 1000
MAX_BODY = 100_000
MAX_ID = 200
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KIND = re.compile(r"^\s*(query|mutation|subscription)\b", re.IGNORECASE)
_COMMENT = re.compile(r"#[^\n]*")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ManifestOperation:
    document_id: str
    body: str
    name: str | None = None
    kind: OperationKind = OperationKind.QUERY
    sha256: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class ParsedManifest:
    format: ManifestFormat
    operations: list[ManifestOperation]


class ManifestError(ValueError):
    """The manifest as a whole cannot be read."""


def _guess_kind(body: str) -> OperationKind:
    found = _KIND.search(_COMMENT.sub("", body))
    return OperationKind(found.group(1).lower()) if found else OperationKind.QUERY


def parse_manifest(text: str) -> ParsedManifest:
    try:
        data = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"The manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError("The manifest must be a JSON object")
    if data.get("format") == "apollo-persisted-query-manifest" or isinstance(data.get("operations"), list):
        if data.get("version", 1) != 1:
            raise ManifestError("Only version 1 of Apollo's persisted query manifest is supported")
        ops = []
        for i, raw in enumerate(data.get("operations") or []):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("body"), str):
                raise ManifestError(f"operations[{i}] needs a string `id` and a string `body`")
            kind = raw.get("type")
            try:
                kind = OperationKind(kind) if kind else _guess_kind(raw["body"])
            except ValueError:
                raise ManifestError(f"operations[{i}].type must be query, mutation or subscription") from None
            name = raw.get("name") if isinstance(raw.get("name"), str) else None
            ops.append(ManifestOperation(raw["id"], raw["body"], name, kind))
        fmt = ManifestFormat.APOLLO
    else:
        ops = []
        for doc_id, body in data.items():
            if not isinstance(body, str):
                raise ManifestError(
                    f"The value of {doc_id!r} must be the operation's text (Relay's {{id: body}} format)"
                )
            ops.append(ManifestOperation(doc_id, body, None, _guess_kind(body)))
        fmt = ManifestFormat.RELAY
    if not ops:
        raise ManifestError("The manifest has no operations")
    if len(ops) > MAX_OPERATIONS:
        raise ManifestError(f"A manifest holds at most {MAX_OPERATIONS} operations")
    seen: set[str] = set()
    for op in ops:
        op.sha256 = sha256(op.body)
        if not op.document_id or len(op.document_id) > MAX_ID:
            op.problems.append(f"The id must be 1 to {MAX_ID} characters")
        elif op.document_id in seen:
            op.problems.append("The id appears twice in the manifest")
        seen.add(op.document_id)
        if len(op.body) > MAX_BODY:
            op.problems.append(f"The body is longer than {MAX_BODY} characters")
        bare = op.document_id.removeprefix("sha256:")
        if _HEX64.match(bare) and bare != op.sha256:
            op.problems.append("The id looks like a SHA-256 but is not the hash of the body")
    return ParsedManifest(fmt, ops)
