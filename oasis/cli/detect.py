"""`oasis replay` and `oasis eval`: detection over recorded or simulated signals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from oasis.cli.app import app, console, err_console, fail, settings_from
from oasis.cli.progress import progress_bar
from oasis.incidents.model import Incident

RESULTS = Path("bench") / "results"


def incident_json(incident: Incident) -> dict:
    out = incident.to_dict(timeline=False)
    return {
        k: out[k]
        for k in (
            "id",
            "status",
            "severity",
            "title",
            "root_cause_service",
            "services",
            "started_at",
            "detected_at",
            "last_seen_at",
            "recovered_at",
            "suspected_change",
            "summary",
            "root_cause_ranking",
            "evidence",
        )
    }


@app.command()
def replay(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="NDJSON files (gzip allowed); - for stdin. With --source: deployments (or "
            "any signals) to add to the sources' history"
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            help="KIND=URL of a store to backtest over (prometheus, loki, opensearch); "
            "repeat for several. A `sources:` entry of that kind in the config gives "
            "the other options (auth, labels)"
        ),
    ] = None,
    start: Annotated[str | None, typer.Option(help="Backtest start, ISO 8601 with zone")] = None,
    end: Annotated[str | None, typer.Option(help="Backtest end, ISO 8601 with zone")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print incidents as JSON")] = False,
) -> None:
    """Feed recorded signals, or a store's history (`--source`), through detection on a
    simulated clock; print the incidents.

    Uses a throw-away store and no model. Bad lines are reported on stderr and skipped.
    """
    from oasis.monitor import read_signals
    from oasis.monitor import replay as run_replay

    settings = settings_from(ctx)
    if not files and not source:
        raise fail("give NDJSON files, or --source KIND=URL with --start and --end")
    rejected: list[tuple[str, int, str]] = []
    try:
        records = read_signals(files or [], rejected)
    except OSError as exc:
        raise fail(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    for name, line, reason in rejected[:20]:
        err_console.print(f"[yellow]skipped[/] {name}:{line}: {reason}")
    if len(rejected) > 20:
        err_console.print(f"[yellow]... and {len(rejected) - 20} more bad lines[/]")
    if source:
        from oasis.cli.backtest import run_backtest

        result = run_backtest(settings, source, start, end, records)
    else:
        if start or end:
            raise fail("--start and --end go with --source")
        with progress_bar("replay", None) as advance:
            result = run_replay(
                records, settings.detect, on_check=lambda done, total: advance(done, "", total)
            )
    if as_json:
        typer.echo(json.dumps([incident_json(i) for i in result.incidents], indent=2))
        return
    err_console.print(f"replayed {result.records:,} records, {result.checks} checks")
    _incident_table(result.incidents)


def _incident_table(incidents: list[Incident]) -> None:
    table = Table("id", "status", "severity", "detected", "root cause", "title")
    for i in incidents:
        table.add_row(
            i.id,
            i.status.value,
            i.severity.value,
            f"{i.detected_at:%m-%d %H:%M}Z",
            i.root_cause_service or "-",
            i.title,
        )
    console.print(table if incidents else "no incidents")


eval_app = typer.Typer(help="Score detection (default) or investigations (`agents`).")
app.add_typer(eval_app, name="eval")


@eval_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per scenario")] = 5,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="Only these scenarios (repeat the option) [default: all]"),
    ] = None,
    hours: Annotated[float, typer.Option(help="Hours simulated per run")] = 3.0,
    workers: Annotated[int, typer.Option(min=1, help="Runs in parallel")] = 2,
    fleet: Annotated[
        str,
        typer.Option(
            help="Fleet: shop (default) or media from the simulator, or independent (a second "
            "generator sharing no code with it: other topology, formats, units, noise)"
        ),
    ] = "shop",
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the result [default: bench/results/eval[-FLEET].json]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Simulate every scenario over several seeds, replay each, and score detection."""
    if ctx.invoked_subcommand is not None:
        return
    from oasis.monitor.evaluate import fleets, run_suite, scenarios_of

    if fleet not in fleets():
        raise fail(f"unknown fleet {fleet!r}; choose from {', '.join(fleets())}")
    known = scenarios_of(fleet)
    unknown = [s for s in scenario or [] if s not in known]
    if unknown:
        raise fail(
            f"unknown scenario {unknown[0]!r} for fleet {fleet}; choose from {', '.join(known)}"
        )
    out = out or RESULTS / ("eval.json" if fleet == "shop" else f"eval-{fleet}.json")
    with progress_bar("eval", None) as advance:
        result = run_suite(
            scenario or None,
            seeds=seeds,
            hours=hours,
            workers=workers,
            fleet=fleet,
            on_run=lambda done, total, run: advance(done, f"{run.scenario} seed {run.seed}", total),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(
        "scenario",
        "runs",
        "detected",
        "false alarms",
        "root cause right",
        "change right",
        "median delay (min)",
    )
    for name, row in result["per_scenario"].items():
        table.add_row(
            name,
            str(row["runs"]),
            str(row["detected"]),
            str(row["false_alarms"]),
            str(row["root_cause_right"]),
            str(row["change_right"]),
            "-" if row["median_delay_minutes"] is None else f"{row['median_delay_minutes']:g}",
        )
    console.print(table)
    fa = result["false_alarms"]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    console.print(
        f"recall {pct(result['recall'])}  root cause top-1 {pct(result['root_cause_top1'])}  "
        f"suspected change {pct(result['suspected_change_accuracy'])}  "
        f"false alarms: {fa['in_healthy_controls']} in controls, {fa['before_onset']} before "
        f"onset, {fa['duplicates']} duplicates  delay median "
        f"{result['median_delay_minutes']} / worst {result['worst_delay_minutes']} min"
    )
    console.print(f"wrote {out}")


@eval_app.command("soak")
def evaluate_soak(
    fleet: Annotated[str, typer.Option(help="shop, media or independent")] = "independent",
    days: Annotated[float, typer.Option(min=0.5, max=14, help="Days of healthy traffic")] = 3.0,
    seed: Annotated[int, typer.Option(help="Generator seed")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Result file [default: bench/results/soak-FLEET.json]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Replay days of healthy traffic (daily cycles, deploys): every incident is a false
    alarm. Reports false alarms per service-day."""
    from oasis.monitor.evaluate import fleets, run_soak

    if fleet not in fleets():
        raise fail(f"unknown fleet {fleet!r}; choose from {', '.join(fleets())}")
    result = run_soak(fleet, days, seed)
    out = out or RESULTS / f"soak-{fleet}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(
        f"{fleet}: {days:g} days, {result['services']} services, {result['records']:,} records, "
        f"{result['deployments']} deployments: {result['false_alarms']} false alarms = "
        f"{result['false_alarms_per_service_day']:.3f} per service-day "
        f"(replay {result['replay_seconds']:.0f} s)"
    )
    for i in result["incidents"]:
        console.print(f"  {i['detected_at']}  {i['title']}")
    console.print(f"wrote {out}")


@eval_app.command("agents")
def evaluate_agents(
    ctx: typer.Context,
    cases: Annotated[Path, typer.Option(help="Folder of case files")] = Path("bench")
    / ("agent_cases"),
    repeat: Annotated[int, typer.Option(min=1, help="Runs per case (models vary)")] = 1,
    model: Annotated[
        str | None,
        typer.Option(
            help="PROVIDER:MODEL_ID overriding the config, e.g. anthropic:claude-sonnet-4-5, "
            "openai:llama3.1 (with --base-url for Ollama), none"
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="The model endpoint, e.g. http://localhost:11434/v1")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Result file [default: bench/results/agent-eval[-MODEL].json]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score investigations on recorded incidents: facts found, root cause, evidence cited,
    actions in the catalog. Uses the configured model (`model:` in the config file), or the
    deterministic analyst when none is configured."""
    from oasis.agents.evals import load_cases, run_cases
    from oasis.agents.factory import eval_analyst

    settings = settings_from(ctx)
    if model is not None or base_url is not None:
        settings = _with_model(settings, model, base_url)
    try:
        found = load_cases(cases)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    result = run_cases(found, eval_analyst(settings.model), repeat=repeat)
    label = (
        result["source"][0].removeprefix("analyst:").replace(":", "-").replace("/", "-")
        if result["source"]
        else "none"
    )
    out = out or RESULTS / (
        "agent-eval.json" if label == "deterministic" else f"agent-eval-{label}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("case", "run", "facts", "root cause", "evidence", "catalog", "action", "fallback")
    for run in result["runs"]:
        table.add_row(
            run["case"],
            str(run["repeat"]),
            f"{run['fact_share']:.2f}",
            _yes(run["root_right"]),
            _yes(run["evidence_cited"]),
            _yes(run["actions_in_catalog"]),
            _yes(run["action_right"]),
            (run["fallback_reason"] or "")[:40],
        )
    console.print(table)
    console.print(
        f"{', '.join(result['source'])}: facts {result['facts_found']:.2f}  root "
        f"cause {result['root_cause_right']:.2f}  evidence {result['evidence_cited']:.2f}"
        f"  in catalog {result['actions_in_catalog']:.2f}  first action "
        f"{result['first_action_right']}  fallbacks {result['fallbacks']}"
    )
    console.print(f"wrote {out}")


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _with_model(settings, model: str | None, base_url: str | None):
    from pydantic import ValidationError

    update: dict = {}
    if model is not None:
        provider, _, model_id = model.partition(":")
        update["provider"] = provider
        update["model_id"] = model_id or None
    if base_url is not None:
        update["base_url"] = base_url
    try:
        chosen = type(settings.model).model_validate(
            {**settings.model.model_dump(exclude_unset=True), **update}
        )
    except ValidationError as exc:
        raise fail(f"--model/--base-url: {exc.errors()[0]['msg']}") from None
    return settings.model_copy(update={"model": chosen})
