"""From a file's bytes to titled sections of plain text: Markdown, HTML, plain text and PDF.

Sections follow the author's headings, because a heading is what a person cites ("the
EKS runbook, Before you start") and what keeps a chunk about one thing. Markup is dropped
but its words are kept; HTML scripts and styles are dropped whole.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from oasis.signals.errors import InvalidInput

SUFFIX_KINDS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                ".txt": "text", ".text": "text", ".rst": "text", ".pdf": "pdf"}
CONTENT_TYPE_KINDS = {"text/markdown": "markdown", "text/x-markdown": "markdown",
                      "text/html": "html", "application/xhtml+xml": "html",
                      "text/plain": "text", "application/pdf": "pdf"}


class SourceError(InvalidInput, ValueError):
    """A file or URL that cannot be ingested; the message says which and why."""


@dataclass(slots=True)
class Section:
    heading: str
    text: str  # paragraphs separated by blank lines


@dataclass(slots=True)
class Document:
    """One source, ready to chunk. `uri` identifies it (absolute path, URL or memory:...);
    `label` is how citations name it."""

    uri: str
    label: str
    title: str
    kind: str
    sections: list[Section]
    metadata: dict = field(default_factory=dict)


def kind_for_path(path: Path) -> str:
    kind = SUFFIX_KINDS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                          f"supported: {', '.join(sorted(SUFFIX_KINDS))}")
    return kind


def extract(data: bytes, kind: str, *, name: str) -> tuple[str | None, list[Section]]:
    """The title (if the source names one) and the sections of `data`."""
    if kind == "pdf":
        return _pdf(data, name)
    text = decode_text(data, name)
    if kind == "markdown":
        return _markdown(text)
    if kind == "html":
        return _html(text)
    return _plain(text)


def decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise SourceError(f"{name}: looks binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# -- Markdown -----------------------------------------------------------------------------
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def _markdown(text: str) -> tuple[str | None, list[Section]]:
    lines = text.splitlines()
    title = None
    if lines and lines[0].strip() == "---":  # YAML front matter: keep its title only
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            for line in lines[1:end]:
                if line.lower().startswith("title:"):
                    title = line.split(":", 1)[1].strip().strip("'\"") or None
            lines = lines[end + 1:]
    sections: list[Section] = []
    heading, body, fenced = "", [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _ATX.match(line)
        underline = (not fenced and i + 1 < len(lines) and line.strip()
                     and re.fullmatch(r"\s*(=+|-+)\s*", lines[i + 1]))
        if match or underline:
            sections.append(Section(heading, "\n".join(body)))
            heading = _clean_inline(match.group(2) if match else line.strip())
            top_level = (len(match.group(1)) == 1) if match else "=" in lines[i + 1]
            if title is None and top_level:
                title = heading
            body = []
            continue
        if not fenced and re.fullmatch(r"\s*(=+|-+)\s*", line) and body == [] and heading:
            continue  # the underline of a setext heading just read
        body.append(line if fenced else _clean_inline(line))
    sections.append(Section(heading, "\n".join(body)))
    return title, [s for s in sections if s.text.strip()]


def _clean_inline(line: str) -> str:
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub("", line)
    line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "- ", line)  # list markers read as dashes
    line = re.sub(r"^\s*>\s?", "", line)
    if re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", line) and "-" in line:
        return ""  # table separator row
    return line.replace("|", " ").rstrip() if line.lstrip().startswith("|") else line.rstrip()


# -- plain text ---------------------------------------------------------------------------
def _plain(text: str) -> tuple[str | None, list[Section]]:
    """A short line standing alone, without closing punctuation, is read as a heading;
    the first one, at the top, as the title."""
    title = None
    sections: list[Section] = []
    heading, body = "", []
    for i, block in enumerate(re.split(r"\n\s*\n", text.strip())):
        line = " ".join(block.split())
        if "\n" not in block.strip() and 0 < len(line.split()) <= 8 and line[-1] not in ".,;:!?":
            if i == 0:
                title = line
            else:
                sections.append(Section(heading, "\n\n".join(body)))
                heading, body = line, []
            continue
        body.append(block.strip())
    sections.append(Section(heading, "\n\n".join(body)))
    return title, [s for s in sections if s.text.strip()]


# -- HTML ---------------------------------------------------------------------------------
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "nav"}
_BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "pre", "blockquote", "table",
          "ul", "ol", "dd", "dt", "header", "footer", "main", "hr", "td", "th"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.first_h1: str | None = None
        self.sections: list[Section] = []
        self.heading = ""
        self.parts: list[str] = []
        self.skipping = 0
        self.in_title = False
        self.in_heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP and tag != "head":
            self.skipping += 1
        elif tag == "title":
            self.in_title = True
        elif tag in _HEADINGS and not self.skipping:
            self._close_section()
            self.in_heading = []
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in {"p", "div", "section", "article", "table",
                                                "pre", "blockquote"} else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag != "head":
            self.skipping = max(0, self.skipping - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in _HEADINGS and self.in_heading is not None:
            self.heading = " ".join("".join(self.in_heading).split())
            if tag == "h1" and self.first_h1 is None:
                self.first_h1 = self.heading
            self.in_heading = None
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title = ((self.title or "") + data).strip() or None
        elif self.skipping:
            return
        elif self.in_heading is not None:
            self.in_heading.append(data)
        else:
            self.parts.append(data)

    def _close_section(self) -> None:
        text = "".join(self.parts)
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
        lines = "\n\n".join(p for p in paragraphs if p)
        if lines:
            self.sections.append(Section(self.heading, lines))
        self.parts = []

    def result(self) -> tuple[str | None, list[Section]]:
        self._close_section()
        return self.title or self.first_h1, self.sections


def _html(text: str) -> tuple[str | None, list[Section]]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.result()


# -- PDF ----------------------------------------------------------------------------------
def _pdf(data: bytes, name: str) -> tuple[str | None, list[Section]]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:  # pragma: no cover - pypdf is a dependency
        raise SourceError(f"{name}: reading PDF needs the pypdf package") from None
    # pypdf logs its own warnings about a damaged file; the SourceError below says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{name}: not a readable PDF ({exc})") from None
    sections = [Section(f"page {i}", _pdf_paragraphs(text))
                for i, text in enumerate(pages, 1) if text.strip()]
    if not sections:
        raise SourceError(f"{name}: the PDF has no extractable text (scanned images?)")
    if title is None:
        title = next((line.strip() for line in pages[0].splitlines() if line.strip()), None)
    return title, sections


def _pdf_paragraphs(text: str) -> str:
    # PDF text comes line by line; a blank line or a short line ending a sentence ends a
    # paragraph, other line breaks are just where the page wrapped.
    return re.sub(r"(?<![.:!?])\n(?!\s*\n)", " ", text).strip()
