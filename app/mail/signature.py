"""The sender's custom signature: user-written HTML made safe to put in every email.

Sanitized with nh3 (Python bindings of ammonia, a maintained allow-list sanitizer; bleach
is deprecated). What survives: text formatting, paragraphs, simple tables, links to
http(s)/mailto and http(s) images, and a short list of harmless inline style
properties. What goes: scripts (with their content), event-handler attributes, forms and
inputs, iframes/objects, ``style`` blocks, comments (no conditional-comment tricks), and
every other URL scheme.
"""

from __future__ import annotations

import nh3
from markupsafe import Markup

#: Tags a signature may use. No div/span layout tricks are needed beyond these.
ALLOWED_TAGS = frozenset(
    {
        "a", "b", "br", "div", "em", "font", "hr", "i", "img", "p", "small", "span",
        "strong", "sub", "sup", "u", "table", "tbody", "thead", "tr", "td", "th",
    }
)  # fmt: skip

_COMMON = {"style", "align", "dir", "title"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width"},
    "table": {"cellpadding", "cellspacing", "border", "width"},
}

#: Inline style properties kept; everything else (position, behavior, expression...) goes.
ALLOWED_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-family", "font-size", "font-style", "font-weight",
        "line-height", "text-align", "text-decoration", "vertical-align", "padding",
        "margin", "border", "width", "height",
    }
)  # fmt: skip

URL_SCHEMES = frozenset({"http", "https", "mailto"})

#: Removed together with their content, not just unwrapped.
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "form", "textarea", "select", "button", "iframe", "object", "embed",
     "noscript", "template", "svg", "math", "title"}
)  # fmt: skip

MAX_SIGNATURE_CHARS = 20_000


def _only_web_images(tag: str, attr: str, value: str) -> str | None:
    # mailto: is fine for a link, not for an image source.
    if tag == "img" and attr == "src" and not value.lower().startswith(("https:", "http:")):
        return None
    return value


def sanitize_signature(html: str) -> Markup:
    """The signature as safe HTML, ready to be inserted unescaped into a template."""
    cleaned = nh3.clean(
        html[:MAX_SIGNATURE_CHARS],
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_only_web_images,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
        filter_style_properties=set(ALLOWED_STYLE_PROPERTIES),
    )
    return Markup(cleaned.strip())  # noqa: S704 - this is the sanitizer's output


def signature_text(html: str) -> str:
    """A plain-text rendering of the signature for the text/plain alternative."""
    markup = nh3.clean(
        html[:MAX_SIGNATURE_CHARS].replace("<br", "\n<br").replace("</p>", "</p>\n"),
        tags=set(),
        clean_content_tags=set(_DROP_WITH_CONTENT),
    )
    text = Markup(markup).unescape()  # noqa: S704 - unescaping text, not marking safe
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)
