"""The call graph detection learned, as a list of edges and an SVG drawn on the server.

The learned relation is "depends on", transitively (oasis.detect.graph): the frontend
depends on the database behind the API. People read a call graph as who calls whom, so
an edge that some other edge already explains (a → b → c makes a → c) is drawn only in
the list, marked with what it goes through; the picture keeps the direct calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote

from oasis.detect.graph import CallGraph
from oasis.store import SignalStore

LOOKBACK = timedelta(minutes=10)  # of logs, when detection has learned nothing yet
MAX_LINES = 20_000  # bounds the page's cost on a busy fleet; a sample is enough
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 160, 30, 70, 16, 8
MAX_LABEL = 21  # characters of a service name inside its box


@dataclass(frozen=True, slots=True)
class Edge:
    """`caller` depends on `callee`: in `traces` traces together (the caller logging
    last), and named by `named` of the caller's error lines; `calls` seen in traces (OTLP
    spans). `via`: the services an indirect dependency goes through (empty for a direct
    call)."""

    caller: str
    callee: str
    traces: int
    named: int
    via: tuple[str, ...]
    calls: int = 0


def current_graph(learned: CallGraph | None, store: SignalStore, now: datetime | None,
                  services: Iterable[str]) -> tuple[CallGraph, str]:
    """Detection's graph when it has learned something, else one learned now from the
    newest logs; with a sentence saying which."""
    if learned is not None and (learned.traces_with or learned.named or learned.calls):
        return learned, "learned by detection from traces, trace ids and error messages"
    graph = CallGraph()
    if now is not None:
        lines = store.read_logs(now - LOOKBACK, now + timedelta(seconds=1), limit=MAX_LINES)
        graph.learn(lines, services)
    minutes = int(LOOKBACK.total_seconds() // 60)
    return graph, f"learned from trace ids and error messages in the last {minutes} minutes"


def learned_edges(graph: CallGraph, services: Iterable[str]) -> list[Edge]:
    """Every dependency among `services`, caller then callee by name."""
    pairs = graph.edges(services)
    linked = set(pairs)
    return [Edge(a, c, graph.together[(a, c)], graph.named[(a, c)],
                 tuple(b for (x, b) in pairs if x == a and (b, c) in linked),
                 graph.calls[(a, c)])
            for a, c in pairs]


def render_graph_svg(edges: list[Edge], states: dict[str, str]) -> str:
    """Direct calls as boxes and arrows, callers left of callees, each box coloured by its
    service's state and linking to that service's incidents."""
    direct = [e for e in edges if not e.via]
    names = sorted({e.caller for e in direct} | {e.callee for e in direct})
    depth = _depths(names, direct)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(depth[name], []).append(name)
    rows = max((len(c) for c in columns.values()), default=1)
    width = 2 * PAD + len(columns) * NODE_W + (len(columns) - 1) * COL_GAP
    height = 2 * PAD + rows * (NODE_H + ROW_GAP) - ROW_GAP
    at: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        top = PAD + (rows - len(members)) * (NODE_H + ROW_GAP) // 2
        for n, name in enumerate(members):
            at[name] = (PAD + col * (NODE_W + COL_GAP), top + n * (NODE_H + ROW_GAP))
    parts = [f'<svg class="graph" id="call-graph" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="call graph" xmlns="http://www.w3.org/2000/svg">',
             '<title>Call graph: who calls whom</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/>'
             '</marker></defs>']
    parts += [_arrow(e, at) for e in direct]
    parts += [_node(name, at[name], states.get(name, "unknown")) for name in names]
    parts.append("</svg>")
    return "".join(parts)


def _depths(names: list[str], edges: list[Edge]) -> dict[str, int]:
    """Longest call chain above each service; bounded, so a cycle cannot loop forever."""
    depth = dict.fromkeys(names, 0)
    for _ in range(len(names)):
        changed = False
        for e in edges:
            deeper = depth[e.caller] + 1
            if deeper > depth[e.callee] and deeper < len(names):
                depth[e.callee], changed = deeper, True
        if not changed:
            break
    return depth


def _arrow(e: Edge, at: dict[str, tuple[int, int]]) -> str:
    (cx, cy), (tx, ty) = at[e.caller], at[e.callee]
    x1, y1, x2, y2 = cx + NODE_W, cy + NODE_H // 2, tx, ty + NODE_H // 2
    if tx <= cx:  # a call back up the chain (a cycle): leave and enter by the box's bottom
        x1, y1, x2, y2 = cx + NODE_W // 2, cy + NODE_H, tx + NODE_W // 2, ty + NODE_H
    lx, ly = round(x1 + 0.6 * (x2 - x1)), round(y1 + 0.6 * (y2 - y1)) - 3
    count = e.calls or e.traces or e.named
    label = f"{e.caller} → {e.callee}: {count_text(e)}"
    return (f'<g class="edge" data-edge="{escape(e.caller)}->{escape(e.callee)}">'
            f'<title>{escape(label)}</title>'
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#arrow)"/>'
            f'<text x="{lx}" y="{ly}" text-anchor="middle">{count}</text></g>')


def _node(name: str, xy: tuple[int, int], state: str) -> str:
    x, y = xy
    shown = name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "…"
    return (f'<a href="/?service={quote(name, safe="")}" class="node state-{escape(state)}" '
            f'data-service="{escape(name)}"><title>{escape(name)} ({escape(state)})</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + NODE_W // 2}" y="{y + NODE_H // 2 + 4}" '
            f'text-anchor="middle">{escape(shown)}</text></a>')


def count_text(e: Edge) -> str:
    if e.calls:
        return f"{e.calls} call{'s' if e.calls != 1 else ''} in traces"
    if not e.traces and not e.named:
        return "calls in traces"  # indirect: through services it calls
    if e.traces:
        return f"{e.traces} trace{'s' if e.traces != 1 else ''}"
    return f"{e.named} error line{'s' if e.named != 1 else ''} naming it"
