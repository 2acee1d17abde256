"""Knowledge base: every format ingested, re-adds, paraphrase recall, memory, cited answers,
the CLI, URLs from a real local HTTP server, POST /api/v1/consult, and bad input."""

from __future__ import annotations

import itertools
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from typer.testing import CliRunner

import oasis.cli.kb  # noqa: F401  (registers `oasis kb` and `oasis ask` until wired)
from oasis.api.routes import consult as consult_route
from oasis.cli import app as cli_app
from oasis.knowledge import KnowledgeBase, KnowledgeSettings, QuestionError, SourceError
from oasis.knowledge.answer import NOTHING_FOUND
from oasis.knowledge.chunk import chunk_sections
from oasis.knowledge.embed import MiniLMEmbedder
from oasis.knowledge.evaluate import load_questions, recall_at_k, source_name
from oasis.knowledge.extract import Section
from tests.servers import serving

DOCS = Path(__file__).parent / "kb_docs"
QUESTIONS = Path(__file__).parent / "kb_questions.yaml"
runner = CliRunner()


def minimal_pdf(title: str, paragraphs: list[str], *, width: int = 88) -> bytes:
    """A small valid PDF with real text (Helvetica), no dependencies: how
    kb_docs/backup-restore-policy.pdf was made."""
    lines = [title, ""]
    for para in paragraphs:
        lines += [*textwrap.wrap(para, width), ""]
    pages = [lines[i:i + 48] for i in range(0, len(lines), 48)]

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in pages:
        body = "BT /F1 11 Tf 14 TL 64 780 Td " + " ".join(f"({esc(t)}) '" for t in page) + " ET"
        objects.append(f"<< /Length {len(body)} >>\nstream\n{body}\nendstream")
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects)} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({esc(title)}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test corpus indexed once (embedding it is the slow part); tests get copies."""
    path = tmp_path_factory.mktemp("kb") / "knowledge.db"
    kb = KnowledgeBase(path)
    assert kb.embedder is not None, "the MiniLM model package must be installed"
    results = kb.add_path(DOCS)
    assert {r.status for r in results} == {"added"}
    return path


@pytest.fixture
def kb(built: Path, tmp_path: Path) -> KnowledgeBase:
    path = tmp_path / "data" / "knowledge.db"
    path.parent.mkdir(parents=True)
    shutil.copy(built, path)
    return KnowledgeBase(path)


def _quote_is_verbatim(snippet: str, text: str) -> bool:
    body = snippet.removeprefix("… ").removesuffix(" …")
    return " ".join(body.split()) in " ".join(text.split())


# -- ingesting --------------------------------------------------------------------------
def test_every_format_is_ingested_with_titles_and_headings(kb: KnowledgeBase) -> None:
    sources = {Path(s.uri).name: s for s in kb.sources()}
    assert set(sources) == {p.name for p in DOCS.iterdir()}
    assert {s.kind for s in sources.values()} == {"markdown", "html", "text", "pdf"}
    assert sources["eks-upgrade.md"].title == "EKS cluster version upgrade runbook"  # front matter
    assert sources["cost-anomaly.html"].title == "Cost anomaly handling"              # <title>
    assert sources["oncall-escalation.txt"].title == "On-call and escalation policy"  # first line
    assert sources["backup-restore-policy.pdf"].title == "Backup and restore policy"  # PDF info
    headings = {h.chunk.heading for h in kb.search("rollback control plane upgrade", 10, "bm25")}
    assert "Rollback" in headings
    txt = kb.search("primary does not acknowledge a page secondary", 3, "bm25")
    assert txt[0].chunk.heading == "Escalation path"


def test_html_scripts_styles_and_navigation_are_dropped(kb: KnowledgeBase) -> None:
    for word in ("analytics", "font-family", "Home"):
        hits = kb.search(word, 10, "bm25")
        assert not [h for h in hits if h.chunk.uri.endswith(".html")], word
    html = kb.search("NAT gateway data processing VPC endpoint", 3, "bm25")[0]
    assert html.chunk.heading == "Common causes" and "<" not in html.chunk.text


def test_pdf_text_is_extracted_and_cited(tmp_path: Path, kb: KnowledgeBase) -> None:
    pdf = tmp_path / "dr-drill.pdf"
    pdf.write_bytes(minimal_pdf("Disaster recovery drill", [
        "Twice a year we fail the whole platform over to the standby region (eu-west-1) and "
        "run it there for four hours. The drill is announced one week ahead.",
        "The drill fails if checkout is unavailable for more than ten minutes."]))
    assert kb.add_path(pdf)[0].status == "added"
    answer = kb.consult("When do we practise failing over to the standby region?")
    top = answer.citations[0]
    assert top.source.endswith("dr-drill.pdf") and top.title == "Disaster recovery drill"
    assert "Twice a year" in top.snippet


def test_readding_unchanged_is_skipped_and_changed_replaces(tmp_path: Path,
                                                             kb: KnowledgeBase) -> None:
    assert {r.status for r in kb.add_path(DOCS)} == {"unchanged"}
    doc = tmp_path / "patching.md"
    doc.write_text("# Patching\n\n## Window\n\nServers are patched on Tuesdays by the "
                   "zeppelin team.\n")
    assert kb.add_path(doc)[0].status == "added"
    assert kb.add_path(doc)[0].status == "unchanged"
    doc.write_text("# Patching\n\n## Window\n\nServers are patched on Thursdays by the "
                   "albatross team.\n")
    result = kb.add_path(doc)[0]
    assert (result.status, result.chunks) == ("updated", 1)
    assert kb.search("zeppelin", 5, "bm25") == []            # old chunks are gone
    assert kb.search("albatross", 5, "bm25")[0].chunk.heading == "Window"
    assert sum(1 for s in kb.sources() if s.uri == str(doc.resolve())) == 1


def test_sources_indexed_without_embeddings_are_embedded_when_added_again(
        tmp_path: Path) -> None:
    path, doc = tmp_path / "kb.db", DOCS / "cost-anomaly.html"
    keywords_only = KnowledgeBase(path, KnowledgeSettings(embedder="none"))
    assert keywords_only.embedder is None
    assert keywords_only.add_path(doc)[0].status == "added"
    assert keywords_only.search("the invoice doubled overnight", 3) == []
    full = KnowledgeBase(path)
    assert full.add_path(doc)[0].status == "updated"
    assert full.add_path(doc)[0].status == "unchanged"
    assert full.search("the invoice doubled overnight", 3)[0].chunk.title == \
        "Cost anomaly handling"


def test_long_sections_are_cut_with_overlap_and_keep_their_heading() -> None:
    sentences = [f"Step {i} of the procedure checks item {i} carefully." for i in range(150)]
    chunks = chunk_sections([Section("Procedure", " ".join(sentences))],
                            target=250, maximum=400, overlap=40)
    assert len(chunks) >= 3
    assert all(c.heading == "Procedure" and c.words <= 400 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        carried = after.text.removeprefix("… ").split()[:10]
        assert " ".join(carried) in before.text            # the cut is covered twice


# -- retrieval --------------------------------------------------------------------------
def test_paraphrased_questions_find_their_documents(kb: KnowledgeBase) -> None:
    questions = load_questions(QUESTIONS)
    assert len(questions) >= 25
    hybrid = recall_at_k(kb, questions, k=5, mode="hybrid")
    embedding = recall_at_k(kb, questions, k=5, mode="embedding")
    assert hybrid.value >= 0.9, hybrid.misses
    assert embedding.value >= 0.9, embedding.misses


def test_meaning_is_found_without_shared_words(kb: KnowledgeBase) -> None:
    # No word of the question is in any document: BM25 finds nothing, embeddings do.
    question = "the invoice doubled overnight"
    assert kb.search(question, 5, "bm25") == []
    assert source_name(kb.search(question, 5)[0].chunk.uri) == "cost-anomaly.html"


def test_the_embedder_matches_minilm() -> None:
    model = MiniLMEmbedder()
    assert model.tokenizer.ids("Hello, world!") == [7592, 1010, 2088, 999]
    a, b, c = model.embed(["How do I upgrade an EKS cluster?",
                           "Steps to move a Kubernetes control plane to a newer version",
                           "The cafeteria serves lunch at noon"])
    assert abs(float(a @ a) - 1) < 1e-5
    assert float(a @ b) > 0.4 > float(a @ c) + 0.3


# -- memory -----------------------------------------------------------------------------
def test_memory_is_retrievable_and_marked(kb: KnowledgeBase) -> None:
    ticket = {"id": "T-1042", "team": "app01", "status": "Resolved", "severity": 3,
              "title": "EKS 1.27 extended support for cluster payments-prod",
              "description": "Cluster payments-prod runs Kubernetes 1.27, now in extended "
                             "support.",
              "history": [{"at": "2025-03-02T10:00:00Z", "actor": "dana",
                           "change": "upgraded to 1.28 then 1.29 in 3 days, no downtime"}]}
    incident = {"id": "inc-20250301-abc123", "title": "checkout latency after deploy",
                "summary": "p99 latency of checkout rose to 4 s after version 2.3.1",
                "severity": "high", "status": "resolved", "root_cause_service": "checkout",
                "services": ["checkout", "payments"]}
    actions = [{"kind": "rollback", "params": {"service": "checkout", "to_version": "2.3.0"},
                "status": "succeeded", "decided_by": "sam"}]
    assert kb.remember_ticket(ticket).status == "added"
    assert kb.remember_incident(incident, actions).status == "added"
    assert kb.remember_ticket(ticket).status == "unchanged"

    answer = kb.consult("How long did moving a cluster off extended support take last time?")
    assert [m.ref for m in answer.memory][:1] == ["memory:ticket/T-1042"]
    assert "3 days" in answer.memory[0].snippet and answer.memory[0].metadata["team"] == "app01"
    assert all(not c.source.startswith("memory:") for c in answer.citations)
    hits = kb.search("checkout got slow after a release; what fixed it?", 3)
    assert hits[0].chunk.memory and "rollback" in hits[0].chunk.text

    with pytest.raises(ValueError, match="kind"):
        kb.remember("Not A Kind", "x", "text")
    with pytest.raises(ValueError, match="no text"):
        kb.remember("event", "x", "   ")
    assert kb.remove("memory:ticket/T-1042")
    assert not kb.consult("extended support upgrade took how many days").memory


# -- answers ----------------------------------------------------------------------------
def test_consult_quotes_and_cites_without_inventing(kb: KnowledgeBase) -> None:
    answer = kb.consult("The primary on-call person is not responding to the page; who is "
                        "next?", k=5)
    assert {source_name(c.source) for c in answer.citations} == {"oncall-escalation.txt"}
    [(number, escalation)] = [(i, c) for i, c in enumerate(answer.citations, 1)
                              if c.heading == "Escalation path"]
    assert "goes to the secondary" in escalation.snippet
    assert f"[{number}] {escalation.source}#Escalation path" in answer.text
    assert answer.text.startswith("The 5 most relevant passages")
    chunks = {h.chunk.text for h in kb.search(answer.question, 5)}
    for citation in answer.citations:
        assert any(_quote_is_verbatim(citation.snippet, text) for text in chunks)
        assert f'"{citation.snippet}"' in answer.text
    assert len(answer.citations) + len(answer.memory) == 5


def test_an_empty_knowledge_base_says_so(tmp_path: Path) -> None:
    answer = KnowledgeBase(tmp_path / "kb.db").consult("How do we rotate database passwords?")
    assert answer.text == NOTHING_FOUND and answer.citations == [] and answer.memory == []


def test_bad_input_gets_clear_errors(tmp_path: Path, kb: KnowledgeBase) -> None:
    with pytest.raises(SourceError, match="no such file"):
        kb.add_path(tmp_path / "missing.md")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    with pytest.raises(SourceError, match=r"unsupported file type '\.docx'"):
        kb.add_path(tmp_path / "notes.docx")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(SourceError, match=r"broken\.pdf: not a readable PDF"):
        kb.add_path(tmp_path / "broken.pdf")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 10)
    with pytest.raises(SourceError, match="binary"):
        kb.add_path(tmp_path / "binary.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"no \.htm.* files in it"):
        kb.add_path(tmp_path / "empty")
    with pytest.raises(QuestionError, match="empty"):
        kb.consult("   ")
    with pytest.raises(QuestionError, match="limit"):
        kb.consult("why " * 1000)


# -- CLI --------------------------------------------------------------------------------
def test_cli_add_list_ask(tmp_path: Path) -> None:
    env = {"OASIS_DATA_DIR": str(tmp_path / "data")}
    eks, oncall = str(DOCS / "eks-upgrade.md"), str(DOCS / "oncall-escalation.txt")
    result = runner.invoke(cli_app, ["kb", "add", eks, oncall], env=env)
    assert result.exit_code == 0, result.output
    assert re.search(r"added\s+\S*eks-upgrade.md \(\d+ chunks\)", result.output)
    again = runner.invoke(cli_app, ["kb", "add", eks], env=env)
    assert "unchanged" in again.output and again.exit_code == 0
    listed = runner.invoke(cli_app, ["kb", "list", "--json"], env=env)
    assert len(__import__("json").loads(listed.stdout)) == 2

    asked = runner.invoke(cli_app, ["ask", "Who gets the page when the primary engineer "
                                           "does not pick up?"], env=env)
    assert asked.exit_code == 0, asked.output
    assert "oncall-escalation.txt#Escalation path" in asked.output
    assert (tmp_path / "data" / "knowledge.db").is_file()

    missing = runner.invoke(cli_app, ["kb", "add", str(tmp_path / "nope.md"), eks], env=env)
    assert missing.exit_code == 1 and "no such file" in missing.output
    assert "unchanged" in missing.output                   # the good one still went in
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    bad = runner.invoke(cli_app, ["kb", "add", str(tmp_path / "sheet.xlsx")], env=env)
    assert bad.exit_code == 1 and "unsupported file type" in bad.output
    empty = runner.invoke(cli_app, ["ask", "  "], env=env)
    assert empty.exit_code == 2 and "empty" in empty.output
    nothing = runner.invoke(cli_app, ["kb", "add"], env=env)
    assert nothing.exit_code == 2


# -- URLs over real HTTP ----------------------------------------------------------------
@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    site = FastAPI()
    site.get("/healthz")(lambda: {"status": "ok"})

    @site.get("/wiki/dns.html")
    def dns_page() -> Response:
        return Response("<html><head><title>Private DNS</title><script>track()</script>"
                        "</head><body><h1>Private DNS</h1><h2>Resolver rules</h2><p>Queries "
                        "for corp.example go to the on-premises resolvers through outbound "
                        "endpoints owned by inf01.</p></body></html>", media_type="text/html")

    @site.get("/raw/patching.md")
    def raw_markdown() -> PlainTextResponse:
        return PlainTextResponse("# Patch Tuesday\n\n## Order\n\nPatch staging first, then "
                                 "production two days later.\n")

    @site.get("/logo.png")
    def logo() -> Response:
        return Response(b"\x89PNG\r\n", media_type="image/png")

    @site.get("/huge.txt")
    def huge() -> PlainTextResponse:
        return PlainTextResponse("x" * (2 * 2**20))

    @site.get("/gone.md")
    def gone() -> Response:
        return Response("not here", status_code=404)

    with serving(site) as url:
        yield url


def test_urls_are_fetched_typed_and_bounded(tmp_path: Path, web: str) -> None:
    kb = KnowledgeBase(tmp_path / "kb.db", KnowledgeSettings(max_source_mb=1))
    assert kb.add_url(f"{web}/wiki/dns.html").status == "added"
    assert kb.add_url(f"{web}/raw/patching.md").status == "added"   # text/plain, .md
    assert kb.add_url(f"{web}/raw/patching.md").status == "unchanged"
    hit = kb.search("which team runs the outbound DNS forwarding to the data centre?", 1)[0]
    assert (hit.chunk.label, hit.chunk.heading) == (f"{web}/wiki/dns.html", "Resolver rules")
    assert "track()" not in hit.chunk.text
    assert kb.search("staging production order", 1)[0].chunk.title == "Patch Tuesday"
    with pytest.raises(SourceError, match="unsupported content type 'image/png'"):
        kb.add_url(f"{web}/logo.png")
    with pytest.raises(SourceError, match="limit"):
        kb.add_url(f"{web}/huge.txt")
    with pytest.raises(SourceError, match="HTTP 404"):
        kb.add_url(f"{web}/gone.md")
    with pytest.raises(SourceError, match="not an http"):
        kb.add_url("file:///etc/passwd")


def test_cli_adds_a_url_list(tmp_path: Path, web: str) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# runbooks\n{web}/wiki/dns.html\n\n{web}/logo.png\n")
    env = {"OASIS_DATA_DIR": str(tmp_path / "data")}
    result = runner.invoke(cli_app, ["kb", "add", "--urls", str(urls)], env=env)
    assert result.exit_code == 1                           # one of the two failed
    assert f"{web}/wiki/dns.html" in result.output and "image/png" in result.output
    none = runner.invoke(cli_app, ["kb", "add", "--urls", str(tmp_path / "missing.txt")],
                         env=env)
    assert none.exit_code == 2 and "cannot read the URL list" in none.output


# -- HTTP API ---------------------------------------------------------------------------
def test_api_consult_over_http(kb: KnowledgeBase) -> None:
    api = FastAPI()
    api.get("/healthz")(lambda: {"status": "ok"})
    api.include_router(consult_route.router)
    api.state.knowledge = kb
    with serving(api) as url:
        ok = httpx.post(f"{url}/api/v1/consult", json={
            "question": "Someone leaked an AWS key on GitHub, what now?", "k": 3}, timeout=30)
        assert ok.status_code == 200, ok.text
        body = ok.json()
        top = body["citations"][0]
        assert source_name(top["source"]) == "security-finding-response.md"
        assert top["heading"] == "Exposed credentials" and top["ref"] in body["text"]
        assert body["memory"] == [] and body["answerer"] == "extractive"
        for bad in ({"question": ""}, {"question": "   "}, {"question": "x" * 5000},
                    {"question": "ok?", "k": 0}, {"k": 3}):
            assert httpx.post(f"{url}/api/v1/consult", json=bad).status_code == 422, bad
        api.state.knowledge = None
        assert httpx.post(f"{url}/api/v1/consult", json={"question": "hi"}).status_code == 503
