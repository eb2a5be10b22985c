"""The persona registry: versioned prompt files, their lock, and their validation.

Read-only and strict: `load` validates every file at start-up (naming file and line),
`model` resolves an `AgentReference` (`reference`) to a pinned version and renders it,
`reload` swaps in a changed registry and reports through callbacks (it imports no server
module), `lock` and `diff` are what `attache registry` uses.
"""

from service.registry.load import RegistryInvalid, load_registry
from service.registry.model import Persona, PromptVersion, Registry, RenderedPrompt
from service.registry.yamlfile import Problem

__all__ = [
    "Persona",
    "Problem",
    "PromptVersion",
    "Registry",
    "RegistryInvalid",
    "RenderedPrompt",
    "load_registry",
]
