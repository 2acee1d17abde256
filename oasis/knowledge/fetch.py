"""Fetching a runbook or policy page over HTTP: bounded in time and size, typed by header.

A wiki page can be huge or slow, or turn out to be a binary download; each is refused
with a reason instead of filling the knowledge base with noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from oasis.knowledge.extract import CONTENT_TYPE_KINDS, SUFFIX_KINDS, SourceError


@dataclass(slots=True)
class Fetched:
    url: str
    kind: str
    data: bytes


def fetch_url(url: str, *, timeout: float = 15.0, max_bytes: int = 20 * 2**20,
              client: httpx.Client | None = None) -> Fetched:
    """The body of `url` and its kind (markdown, html, text, pdf), or SourceError."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SourceError(f"{url}: not an http(s) URL")
    own = client is None
    client = client or httpx.Client(timeout=timeout, follow_redirects=True,
                                    headers={"User-Agent": "oasis-knowledge/1"})
    try:
        with client.stream("GET", url, timeout=timeout) as response:
            if response.status_code >= 400:
                raise SourceError(f"{url}: HTTP {response.status_code}")
            kind = _kind(url, response.headers.get("content-type", ""))
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"{url}: {int(declared)} bytes is over the "
                                  f"{max_bytes}-byte limit")
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > max_bytes:
                    raise SourceError(f"{url}: body is over the {max_bytes}-byte limit")
            return Fetched(str(response.url), kind, bytes(body))
    except httpx.TimeoutException:
        raise SourceError(f"{url}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {exc.__class__.__name__}: {exc}") from None
    finally:
        if own:
            client.close()


def _kind(url: str, content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    suffix_kind = SUFFIX_KINDS.get(Path(urlsplit(url).path).suffix.lower())
    if media in {"text/plain", "application/octet-stream", ""} and suffix_kind:
        return suffix_kind  # raw Markdown is often served as text/plain
    kind = CONTENT_TYPE_KINDS.get(media)
    if kind is None:
        raise SourceError(f"{url}: unsupported content type {media or '(none)'!r}; "
                          f"supported: {', '.join(sorted(CONTENT_TYPE_KINDS))}")
    return kind


def read_url_list(path: Path) -> list[str]:
    """URLs from a file, one a line; blank lines and # comments are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the URL list ({exc.strerror})") from None
    urls = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not urls:
        raise SourceError(f"{path}: no URLs in the list")
    return urls
