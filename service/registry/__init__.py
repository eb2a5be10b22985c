"""The persona registry: versioned prompt files, their lock, and their validation."""

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
