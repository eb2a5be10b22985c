"""The workshop beside the test suite: tools the tests, the benchmarks and the Makefile share.

The stand-in provider (`standin`), real servers for a run (`servers`: PostgreSQL, Redis),
the news items and scenarios (`news`, `scenarios`), the cassette tools (`cassette_format`,
`author_cassettes`, `author_eval_cassettes`, `eval_answers`, `record_local_cassettes`) and the
local-model runner (`local_model`). Nothing here is part of the service: tools/ may import
`service` and `schemas`, never `tests`; `tests/` and `benchmarks/` import from here.
"""
