"""One entry point: bytes in, advisories out, whatever the source format."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from monitor.models import Advisory
from monitor.normalise import article, canada, cap, govuk, rss
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import Document, InputError, check_input, detect_format


class Format(StrEnum):
    AUTO = "auto"
    RSS = "rss"
    GOVUK = "govuk"
    CANADA = "canada"
    CAP = "cap"
    TEXT = "text"
    HTML = "html"


Adapter = Callable[[Document, SourceContext], list[Draft]]

ADAPTERS: dict[Format, Adapter] = {
    Format.RSS: rss.parse,
    Format.GOVUK: govuk.parse,
    Format.CANADA: canada.parse,
    Format.CAP: cap.parse,
    Format.TEXT: article.parse_text,
    Format.HTML: article.parse_html,
}


def normalise_bytes(
    data: bytes,
    *,
    source: str,
    fmt: Format | str = Format.AUTO,
    issuer: str | None = None,
) -> list[Advisory]:
    """Normalise one input document (a feed, an API payload, an article) into advisories.

    Raises ``InputError`` when the input cannot be read or parsed (empty, binary, too
    large, truncated, hostile XML); a broken single item is skipped, not fatal.
    """
    document = check_input(data)
    chosen = Format(fmt)
    if chosen is Format.AUTO:
        chosen = Format(detect_format(document))
    drafts = ADAPTERS[chosen](document, SourceContext(source=source, issuer=issuer))
    return [build_advisory(draft) for draft in drafts]


__all__ = ["Format", "InputError", "normalise_bytes"]
