"""`oasis kb add|list|remove|search` and `oasis ask`: the knowledge base from the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from oasis.cli.app import app, console, err_console, fail, settings_from
from oasis.cli.progress import progress_bar
from oasis.knowledge import (
    KnowledgeBase,
    SourceError,
    read_url_list,
)

kb_app = typer.Typer(
    help="Knowledge base: runbooks, policies and memories OASIS consults.", no_args_is_help=True
)
app.add_typer(kb_app, name="kb")


def open_kb(ctx: typer.Context) -> KnowledgeBase:
    """The knowledge base of this invocation's data dir."""
    settings = settings_from(ctx)
    answerer = None
    if settings.model.provider != "none":
        from oasis.agents.consultant import ModelAnswerer

        answerer = ModelAnswerer(settings.model)
    return KnowledgeBase.open(settings.data_dir, settings.knowledge, answerer=answerer)


def _no_kb_yet(ctx: typer.Context) -> bool:
    """True for a data dir with no knowledge base file: reading must not create one."""
    settings = settings_from(ctx)
    return not settings.knowledge.db_path(settings.data_dir).exists()


@kb_app.command("add")
def add(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Markdown, HTML, text or PDF files, or directories of them"),
    ] = None,
    urls: Annotated[
        Path | None,
        typer.Option("--urls", dir_okay=False, help="File listing URLs to fetch, one a line"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add or refresh sources: changed ones are re-indexed, unchanged ones skipped."""
    if not paths and urls is None:
        raise fail("name at least one file or directory, or --urls FILE")
    url_list: list[str] = []
    if urls is not None:
        try:
            url_list = read_url_list(urls)
        except SourceError as exc:
            raise fail(str(exc)) from None
    kb = open_kb(ctx)
    results, errors = [], []
    todo: list[Path | str] = [*(paths or []), *url_list]
    with progress_bar("kb add", len(todo)) as advance:
        for done, item in enumerate(todo):
            advance(done, str(item))
            try:
                if isinstance(item, Path):
                    results += kb.add_path(item)
                else:
                    results.append(kb.add_url(item))
            except SourceError as exc:
                errors.append(str(exc))
        advance(len(todo))
    if as_json:
        console.print_json(
            json.dumps({"results": [r.to_dict() for r in results], "errors": errors})
        )
    else:
        for r in results:
            style = {"added": "green", "updated": "yellow", "unchanged": "dim"}[r.status]
            chunks = f" ({r.chunks} chunk{'' if r.chunks == 1 else 's'})" if r.chunks else ""
            console.print(
                f"[{style}]{r.status:9}[/] {r.source}{chunks}", highlight=False, soft_wrap=True
            )
        for message in errors:
            _error(message)
    if errors:
        raise typer.Exit(1)


def _error(message: str) -> None:
    # soft_wrap: a path or URL cut across lines cannot be copied back into a command
    err_console.print("[red]error:[/] ", end="")
    err_console.print(message, highlight=False, soft_wrap=True, markup=False)


@kb_app.command("list")
def list_sources(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sources and memories in the knowledge base."""
    sources = [] if _no_kb_yet(ctx) else open_kb(ctx).sources()
    if as_json:
        console.print_json(json.dumps([s.to_dict() for s in sources]))
        return
    if not sources:
        console.print("The knowledge base is empty: add runbooks with `oasis kb add PATH`.")
        return
    table = Table("source", "title", "kind", "chunks", "added")
    for s in sources:
        table.add_row(s.label, s.title, "memory" if s.memory else s.kind, str(s.chunks), s.added_at)
    console.print(table)


@kb_app.command("remove")
def remove(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="Source as listed, its path or URL, or memory:KIND/ID")
    ],
) -> None:
    """Forget a source and its chunks."""
    if not open_kb(ctx).remove(source):
        raise fail(f"no source {source!r} in the knowledge base (see `oasis kb list`)", 1)
    console.print(f"removed {source}", highlight=False)


@kb_app.command("search")
def search(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="What to look for")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Chunks to show")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or embedding")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The best-ranked chunks, with their BM25 rank and cosine similarity."""
    if mode not in {"hybrid", "bm25", "embedding"}:
        raise fail(f"unknown mode {mode!r}; one of hybrid, bm25, embedding")
    hits = [] if _no_kb_yet(ctx) else open_kb(ctx).search(question, k, mode)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps([h.to_dict() for h in hits]))
        return
    for i, hit in enumerate(hits, 1):
        c = hit.chunk
        ref = f"{c.label}#{c.heading}" if c.heading else c.label
        cosine = "-" if hit.cosine is None else f"{hit.cosine:.2f}"
        console.print(
            f"[bold][{i}] {ref}[/]  score {hit.score:.4f}  bm25 #{hit.bm25_rank or '-'}"
            f"  cosine {cosine}",
            highlight=False,
        )
        console.print(c.text[:400] + ("…" if len(c.text) > 400 else ""), highlight=False)


@app.command("ask")
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A question, in your own words")],
    k: Annotated[int, typer.Option("-k", min=1, max=20, help="Passages to quote")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ask the knowledge base: the most relevant passages, quoted with their sources."""
    answer = open_kb(ctx).consult(question, k=k)  # a QuestionError exits 2 (oasis.cli.app)
    if as_json:
        console.print_json(json.dumps(answer.to_dict()))
    else:
        console.print(answer.text, highlight=False, markup=False, soft_wrap=True)
