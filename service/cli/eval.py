"""`attache eval AGENT`: the command line of `service.eval.run` (options, progress bar, exit status).

Exit status: 0 when the run finished and no `--fail-on` rule failed; 1 when one did (a
regression); 2 for bad input (an unknown agent or version, a malformed suite, a bad rule,
no provider for a live run). A provider fault during the run is not bad input: it is that
item's outcome, reported, and the run goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from service.eval.run import BAD_INPUT, DEFAULT_CASSETTES, REGRESSION, BadInput, EvalOptions, run_eval
from service.eval.runner import ItemResult, Plan
from service.registry.load import EVALS_DIR


@click.command("eval")
@click.argument("agent")
@click.option("--versions", help="Versions or labels, comma-separated (default: every published version).")
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(path_type=Path),
    help=f"A suite file or a folder of them (default: registry/AGENT/{EVALS_DIR}/).",
)
@click.option("--from-store", is_flag=True, help="Replay the inputs callers sent AGENT, from the store.")
@click.option("--since", help="With --from-store: sent at or after this date or time (ISO 8601, UTC).")
@click.option("--label", help="With --from-store: only requests that asked for this label.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="With --from-store.")
@click.option("--offline", is_flag=True, help="Answer from the recorded exchanges (deterministic; what CI runs).")
@click.option(
    "--cassettes",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CASSETTES,
    show_default=True,
    help="With --offline: the folder of recorded exchanges (AGENT/ inside it).",
)
@click.option(
    "--record",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run live and keep every exchange under DIR/AGENT/<version>.yaml, for --offline runs.",
)
@click.option(
    "--judge",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ID[@VERSION]]",
    help="Score every assessment with a judge persona (default: the registry's judge).",
)
@click.option("--baseline", help="The version the others are compared with (and relative rules measured from).")
@click.option("--fail-on", "fail_on", help='Rules that fail the run, e.g. "first_attempt_valid<0.95,reasks>+10%".')
@click.option(
    "--prices", type=click.Path(dir_okay=False, path_type=Path), help="A YAML price table (USD per 1M tokens)."
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Items at once.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Report folder (default: a new one here)."
)
@click.option(
    "--registry-dir", type=click.Path(file_okay=False, path_type=Path), help="Registry folder (default: configured)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every provider call (JSON lines on stderr).")
def eval_command(agent: str, **options: Any) -> None:
    """Run eval suites through versions of AGENT's prompt and report the measures of each.

    \b
    attache eval jp-01 --versions 1.0.0,1.1.0 --offline
    attache eval jp-01 --versions stable,1.1.0 --baseline stable --fail-on "first_attempt_valid<0.95,reasks>+10%"
    attache eval jp-01 --versions 1.1.0 --from-store --since 2026-11-01 --label stable --judge
    """
    try:
        outcome = run_eval(
            EvalOptions(agent=agent, **options),
            echo=lambda line, note: click.echo(line, err=note),
            progress=_with_progress,
        )
    except BadInput as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(BAD_INPUT)
    if outcome.failed:
        sys.exit(REGRESSION)


async def _with_progress(plan: Plan, mode: str, run: Callable[[Callable[[ItemResult], None]], Any]) -> Any:
    """A progress bar on the terminal for live runs (an offline run takes seconds)."""
    if mode == "offline" or not sys.stderr.isatty():
        return await run(lambda result: None)
    with click.progressbar(length=plan.size, label="assessing", file=sys.stderr, show_pos=True) as bar:
        faults = 0

        def done(result: ItemResult) -> None:
            nonlocal faults
            faults += not result.ok
            noted = f", {faults} fault{'s' if faults != 1 else ''}" if faults else ""
            bar.label = f"assessing ({result.version} {result.suite}/{result.item}{noted})"
            bar.update(1)

        return await run(done)
