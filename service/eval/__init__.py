"""`attache eval`: evidence before a label moves.

A suite of news items (`registry/<id>/evals/*.yaml`, or inputs callers sent, from the
store) runs through each version of a persona, on the configured provider (live), on
recorded exchanges (offline: `cassettes/eval/`, deterministic, what CI runs), or live while
recording them. Each answer is measured from its typed assessment and, optionally, scored by
a judge persona; the reports (HTML, Markdown, JSON) compare the versions, and thresholds
against a baseline turn a regression into a non-zero exit.

    suite      the suite files: strict YAML, every problem named with file and line
    store      items from the assessments callers sent (`--from-store`)
    runner     one item through one version, by the code path /assess uses
    checks     what the typed assessment shows (sections, horizons, bands, echo, title, quotes)
    quotes     quotations the assessment attributes to the news item, and whether they are in it
    judge      the judge persona's rubric of one assessment
    measures   per-version figures over the items
    prices     the price table that turns tokens into cost
    thresholds `--baseline` and `--fail-on`
    cassettes  the recorded exchanges' file format
    replay     the loopback provider that replays (or records) them
    report     report.json, summary.md, report.html (charts in `charts`)
    run        one whole run from a frozen EvalOptions (`service.cli.eval` is its command line)
"""
