"""`attache assess`: one assessment from the command line, through the same code as `POST /assess`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli.options import load_or_exit, settings_from_env


@click.command()
@click.option("--agent", required=True, help="`jp-01`, `jp-01@1.0.0` or `jp-01@stable`.")
@click.option(
    "--context-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the news excerpt ('-' is not supported: pass a file).",
)
@click.option("--question", default=None, help="Defaults to the prompt version's question.")
@click.option("--source", default=None, help="Where the excerpt comes from, e.g. CSPAN.")
@click.option("--as-of", "as_of", default=None, help="The date the assessment treats as today (YYYY-MM-DD).")
@click.option("--markdown", is_flag=True, help="Print the assessment in the sample's layout instead of JSON.")
def assess(
    agent: str, context_file: Path, question: str | None, source: str | None, as_of: str | None, markdown: bool
) -> None:
    """Run one assessment through the same code path as POST /assess."""
    import asyncio

    import msgspec

    from service.assessment.complete import run_assessment
    from service.assessment.markdown import render_markdown
    from service.assessment.request import AssessRequest
    from service.errors import AttacheError
    from service.logs import configure_logging
    from service.provider.client import ModelProvider

    settings = settings_from_env()
    configure_logging(settings.log_level, stream=sys.stderr)
    loaded = load_or_exit(None)
    try:
        request = msgspec.convert(
            {
                "agent": agent,
                "context": context_file.read_text(encoding="utf-8"),
                "question": question,
                "source": source,
                "as_of": as_of,
            },
            AssessRequest,
            strict=False,
        )
    except msgspec.ValidationError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> str:
        provider = ModelProvider(settings, known_models=loaded.model_names)
        try:
            served = await run_assessment(request, registry=loaded, provider=provider, settings=settings)
        finally:
            await provider.close()
        if markdown:
            return render_markdown(served.envelope.assessment, served.persona)
        encoded = msgspec.json.encode(served.envelope, enc_hook=lambda obj: obj.model_dump(mode="json"))
        return msgspec.json.format(encoded, indent=2).decode()

    try:
        click.echo(asyncio.run(run()))
    except AttacheError as exc:
        click.echo(f"{exc.code}: {exc.detail}", err=True)
        sys.exit(2 if exc.status < 500 else 3)
