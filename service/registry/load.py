"""Load and validate the registry; every problem names its file and, where it can, its line.

The same function backs `attache registry check` and service start-up, so the messages a
developer sees locally are the ones that stop a pod.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
import semver
import yaml

from schemas import SCHEMAS
from service.registry.cache import LoadCache
from service.registry.lock import LOCK_NAME, Lock, LockError, read_lock
from service.registry.model import Persona, PromptVersion, Registry
from service.registry.spec import PersonaSpec, VersionSpec
from service.registry.templates import CheckedTemplate, TemplateProblem, check_names, check_template

PERSONA_FILE = "persona.yaml"
TEMPLATE_PARTS = ("system", "user")
VERSION_SUFFIX = ".yaml"
PERSONA_ID = re.compile(r"^[a-z]{2}-\d{2}$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class TemplateNames(msgspec.Struct, frozen=True):
    """A load cache entry: the free names of a version's templates, which parsed when cached."""

    system: list[str]
    user: list[str]


class RegistryInvalid(Exception):
    """The registry cannot be served; `problems` lists every reason found."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"registry {root} is invalid ({len(problems)} problem(s)):\n{lines}")


def load_registry(root: Path, *, check_lock: bool = True, cache_dir: Path | None = None) -> Registry:
    """Load every persona under `root`; raise RegistryInvalid listing all problems.

    `cache_dir` keeps compiled templates between starts (see `service.registry.cache`).
    """
    root = Path(root)
    cache = LoadCache(cache_dir)
    problems: list[Problem] = []
    if not root.is_dir():
        raise RegistryInvalid(root, [Problem(root, None, "registry folder does not exist")])
    try:
        lock = read_lock(root)
    except LockError as exc:
        problems.append(Problem(root / LOCK_NAME, None, str(exc)))
        lock = Lock({})

    personas: dict[str, Persona] = {}
    seen_files: set[str] = set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        persona = _load_persona(folder, lock if check_lock else None, cache, problems, seen_files)
        if persona is not None:
            personas[persona.id] = persona

    if check_lock:
        problems.extend(
            Problem(root / LOCK_NAME, None, f"{rel} is locked but its file is gone; published versions stay")
            for rel in sorted(set(lock.entries) - seen_files)
        )
    if not personas and not problems:
        problems.append(Problem(root, None, "registry holds no personas"))
    if problems:
        raise RegistryInvalid(root, problems)
    return Registry(root=root, personas=personas, lock_digest=lock.digest)


def _load_persona(
    folder: Path, lock: Lock | None, cache: LoadCache, problems: list[Problem], seen_files: set[str]
) -> Persona | None:
    count_before = len(problems)
    if not PERSONA_ID.match(folder.name):
        problems.append(Problem(folder, None, "persona folder must be named like `jp-01` (its id)"))
        return None
    persona_path = folder / PERSONA_FILE
    if not persona_path.is_file():
        problems.append(Problem(persona_path, None, f"missing {PERSONA_FILE}"))
        return None
    persona_text = _read_text(persona_path, problems)
    if persona_text is None:
        return None
    spec = _decode(persona_path, persona_text, PersonaSpec, problems)
    if spec is not None and spec.callsign.lower() != folder.name:
        problems.append(
            Problem(
                persona_path,
                _line_of(persona_text, "callsign"),
                f"callsign {spec.callsign!r} does not match the folder name {folder.name!r}",
            )
        )

    versions: dict[str, PromptVersion] = {}
    for path in sorted(folder.iterdir()):
        if path.name == PERSONA_FILE:
            continue
        version = path.name.removesuffix(VERSION_SUFFIX)
        if path.suffix != VERSION_SUFFIX or not semver.Version.is_valid(version):
            problems.append(Problem(path, None, "expected only persona.yaml and <semver>.yaml files here"))
            continue
        if not path.is_file():
            problems.append(Problem(path, None, "named like a version file, but not a file"))
            continue
        rel = f"{folder.name}/{path.name}"
        seen_files.add(rel)
        prompt = _load_version(folder.name, version, path, rel, lock, cache, problems)
        if prompt is not None:
            versions[version] = prompt

    if spec is None or len(problems) > count_before:
        return None
    ordered = {v: versions[v] for v in sorted(versions, key=semver.Version.parse)}
    persona = Persona(id=folder.name, path=folder, spec=spec, versions=ordered)
    _check_references(persona, persona_path, persona_text, problems)
    for prompt in ordered.values():
        _check_renders(persona, prompt, cache, problems)
    return None if len(problems) > count_before else persona


def _load_version(
    persona_id: str,
    version: str,
    path: Path,
    rel: str,
    lock: Lock | None,
    cache: LoadCache,
    problems: list[Problem],
) -> PromptVersion | None:
    raw = _read_bytes(path, problems)
    if raw is None:
        return None
    sha256 = hashlib.sha256(raw).hexdigest()
    if lock is not None:
        locked = lock.entries.get(rel)
        if locked is None:
            problems.append(
                Problem(path, None, f"version {version} is not in {LOCK_NAME}; run `attache registry lock`")
            )
        elif locked != sha256:
            problems.append(
                Problem(
                    path,
                    None,
                    f"published version {version} changed (lock {locked[:12]}…, file {sha256[:12]}…); "
                    "published versions are immutable: restore the file and publish a new version",
                )
            )
    text = _as_text(path, raw, problems)
    if text is None:
        return None
    # Always built from the file's own bytes: the cache can say a check passed, never what is served.
    spec = _decode(path, text, VersionSpec, problems)
    if spec is None:
        return None
    cached = cache.get("version", raw, TemplateNames)
    compiled: dict[str, CheckedTemplate] = {}
    for part in TEMPLATE_PARTS:
        source = getattr(spec, part)
        if cached is not None:
            compiled[part] = CheckedTemplate(source=source, names=frozenset(getattr(cached, part)))
            continue
        try:
            compiled[part] = check_template(source)
        except TemplateProblem as exc:
            problems.append(Problem(path, _template_line(text, part, exc.lineno), f"{part}: {exc}"))
    if cached is None and len(compiled) == len(TEMPLATE_PARTS):
        cache.put(
            "version",
            raw,
            TemplateNames(system=sorted(compiled["system"].names), user=sorted(compiled["user"].names)),
        )

    ok = len(compiled) == len(TEMPLATE_PARTS)
    if (spec.output.schema, spec.output.version) not in SCHEMAS:
        known = ", ".join(f"{name} v{major}" for name, major in SCHEMAS)
        problems.append(Problem(path, _line_of(text, "output"), f"unknown output schema {spec.output}; known: {known}"))
        ok = False
    names = [v.name for v in spec.variables]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem(path, _line_of(text, "variables"), f"variable(s) declared twice: {', '.join(duplicates)}")
        )
        ok = False
    for part, template in compiled.items():
        try:
            check_names(template, frozenset(names))
        except TemplateProblem as exc:
            problems.append(Problem(path, _template_line(text, part, exc.lineno), f"{part}: {exc}"))
            ok = False
    if not ok:
        return None
    return PromptVersion(
        persona_id=persona_id,
        version=version,
        sha256=sha256,
        path=path,
        spec=spec,
        system_template=compiled["system"],
        user_template=compiled["user"],
    )


def _check_references(persona: Persona, path: Path, text: str, problems: list[Problem]) -> None:
    spec = persona.spec
    if "stable" not in spec.labels:
        problems.append(Problem(path, _line_of(text, "labels"), "labels must include `stable` (the default)"))
    for label, version in spec.labels.items():
        if version not in persona.versions:
            problems.append(
                Problem(
                    path,
                    _line_of(text, f"labels.{label}"),
                    f"label {label!r} points at version {version}, which has no file {version}.yaml",
                )
            )
    for index, deprecation in enumerate(spec.deprecations):
        refs: tuple[tuple[str, str | None], ...] = (
            ("version", deprecation.version),
            ("successor", deprecation.successor),
        )
        for field, ref in refs:
            if ref is not None and ref not in persona.versions:
                problems.append(
                    Problem(
                        path,
                        _line_of(text, f"deprecations[{index}].{field}"),
                        f"deprecation {field} {ref} has no file {ref}.yaml",
                    )
                )


def _check_renders(persona: Persona, prompt: PromptVersion, cache: LoadCache, problems: list[Problem]) -> None:
    """Render with every variable's example, then with only the required ones.

    The outcome depends only on the version file and the persona's template fields, so a
    success is remembered under exactly those inputs.
    """
    inputs = f"{prompt.sha256}:{json.dumps(persona.template_fields, sort_keys=True)}".encode()
    if cache.get("rendered", inputs, bool):
        return
    for only_required in (False, True):
        try:
            prompt.render(persona, prompt.sample_values(only_required=only_required))
        except Exception as exc:  # a template can fail in many ways; each is a registry problem
            which = "required sample inputs only" if only_required else "all sample inputs"
            problems.append(Problem(prompt.path, None, f"does not render with {which}: {exc}"))
            return
    cache.put("rendered", inputs, True)


def _read_bytes(path: Path, problems: list[Problem]) -> bytes | None:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        problems.append(Problem(path, None, "a folder where a file belongs"))
    except PermissionError:
        problems.append(Problem(path, None, "not readable by this process"))
    except OSError as exc:
        problems.append(Problem(path, None, f"cannot be read ({exc.strerror})"))
    return None


def _as_text(path: Path, raw: bytes, problems: list[Problem]) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(path, None, f"not UTF-8 text (byte {exc.start} cannot be decoded)"))
        return None


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    raw = _read_bytes(path, problems)
    return None if raw is None else _as_text(path, raw, problems)


def _decode(path: Path, text: str, kind: type[T], problems: list[Problem]) -> T | None:
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problems.append(Problem(path, line, f"not valid YAML: {exc.problem}"))
        return None
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message, location = _split_validation_error(str(exc))
        unknown = re.match(r"Object contains unknown field `(.+)`", message)
        if unknown:
            key = unknown.group(1)
            location = f"{location}.{key}" if location else key
            message = f"unknown key `{key}`" + (f" in `{location.rpartition('.')[0]}`" if "." in location else "")
        elif location:
            message = f"`{location}`: {message}"
        problems.append(Problem(path, _line_of(text, location), message))
        return None


def _split_validation_error(message: str) -> tuple[str, str]:
    reason, _, where = message.partition(" - at `$")
    return reason, where.rstrip("`").lstrip(".")


def _line_of(text: str, location: str) -> int | None:
    """1-based line of the YAML node at `a.b[0].c`, or None."""
    node = _node_at(text, location)
    return node.start_mark.line + 1 if node is not None else None


def _template_line(text: str, part: str, lineno: int | None) -> int | None:
    node = _node_at(text, part, want_value=True)
    if node is None:
        return None
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return node.start_mark.line + (1 if block else 0) + (lineno or 1)


def _node_at(text: str, location: str, *, want_value: bool = False) -> yaml.Node | None:
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    key_node: yaml.Node | None = None
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", location):
        if isinstance(node, yaml.MappingNode) and name:
            found = next((pair for pair in node.value if pair[0].value == name), None)
            if found is None:
                return key_node or node
            key_node, node = found
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            key_node = node = node.value[int(index)]
        else:
            break
    return node if want_value else (key_node or node)
