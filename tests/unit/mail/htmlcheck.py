"""Looking inside rendered email HTML the way mail clients do, including inside the
<!--[if mso]> comments that Outlook parses as markup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_MSO_BLOCK = re.compile(r"<!--\[if mso\]>(.*?)<!\[endif\]-->", re.S)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    in_mso: bool


@dataclass
class Parsed:
    elements: list[Element] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)  # <style> block contents

    def urls(self) -> list[str]:
        return [
            v
            for e in self.elements
            for k, v in e.attrs.items()
            if k in ("href", "src") and v is not None
        ]

    def tags(self, name: str, *, in_mso: bool | None = None) -> list[Element]:
        return [
            e for e in self.elements if e.tag == name and (in_mso is None or e.in_mso == in_mso)
        ]


class _Parser(HTMLParser):
    def __init__(self, out: Parsed, in_mso: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.out = out
        self.in_mso = in_mso
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.elements.append(Element(tag, {k: v or "" for k, v in attrs}, self.in_mso))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.elements.append(Element(tag, {k: v or "" for k, v in attrs}, self.in_mso))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.out.styles.append(data)

    def handle_comment(self, data: str) -> None:
        # Outlook renders the inside of <!--[if mso]> ... <![endif]--> as HTML.
        m = re.match(r"\[if [^\]]*mso[^\]]*\]>(.*)<!\[endif\]", data, re.S | re.I)
        if m and not data.lower().startswith("[if !mso"):
            inner = _Parser(self.out, in_mso=True)
            inner.feed(m.group(1))
            inner.close()


def parse(html: str) -> Parsed:
    out = Parsed()
    p = _Parser(out, in_mso=False)
    p.feed(html)
    p.close()
    return out


def mso_blocks(html: str) -> list[str]:
    return _MSO_BLOCK.findall(html)
