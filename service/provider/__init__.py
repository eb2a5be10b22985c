"""The wall between an assessment and the model provider.

An assessment asks a `Completer` for one validated answer; `client.ModelProvider` is the one
implementation (instructor over the openai SDK, imported only when a provider is configured,
since the SDK costs ~1.5 s of imports). Transport retries (`retry`), what a provider's error
bodies mean (`faults`) and whether a re-ask fits the context window (`context_window`) live
beside it.
"""
