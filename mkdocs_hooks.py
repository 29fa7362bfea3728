"""MkDocs hooks for the rxrand site (named in mkdocs.yml).

The docstrings cross-reference in Sphinx's roles (``:class:`~rxrand.net.Sender```), which
mkdocstrings leaves as text: ":class:" before the code. This hook drops the role and, as
Sphinx does for a leading ``~``, keeps only the last part of the name.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const):<code>(~?)([^<]*)</code>"
)


def _shown(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return ROLE.sub(_shown, html)
