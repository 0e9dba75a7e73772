"""The email templates under parley/templates/email: `string.Template` files in plain text (`.txt`)
and HTML (`.html`). Values put into HTML are escaped unless they are `Safe` (already-built HTML)."""

from __future__ import annotations

import html
from functools import lru_cache
from importlib import resources
from string import Template


class Safe(str):
    """HTML that is inserted as it is (built from escaped parts)."""


@lru_cache(maxsize=32)
def _template(name: str) -> Template:
    return Template(resources.files("parley").joinpath("templates", "email", name).read_text(encoding="utf-8"))


def render(template: str, /, **values: object) -> str:
    if template.endswith(".html"):
        values = {k: v if isinstance(v, Safe) else html.escape(str(v), quote=True) for k, v in values.items()}
    return _template(template).substitute(values)


def html_paragraphs(text: str) -> Safe:
    """Plain text as HTML: escaped, with line breaks kept."""
    return Safe(html.escape(text).replace("\n", "<br>\n"))
