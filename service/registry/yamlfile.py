"""Strict YAML files: decode into a typed spec, or a Problem naming the file and the line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
import yaml

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


def decode(path: Path, text: str, kind: type[T], problems: list[Problem]) -> T | None:
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
        location = _name_mapping_keys(data, kind, message, location)
        unknown = re.match(r"Object contains unknown field `(.+)`", message)
        if unknown:
            key = unknown.group(1)
            location = f"{location}.{key}" if location else key
            message = f"unknown key `{key}`" + (f" in `{location.rpartition('.')[0]}`" if "." in location else "")
        elif location:
            message = f"`{location}`: {message}"
        problems.append(Problem(path, line_of(text, location), message))
        return None


def _name_mapping_keys(data: object, kind: type[T], message: str, location: str) -> str:
    """msgspec says `rollouts[...].percent` for a value in a mapping; find which key, by trying each alone."""
    while "[...]" in location:
        prefix, _, rest = location.partition("[...]")
        mapping = _value_at(data, prefix)
        if not isinstance(mapping, dict):
            break
        original = dict(mapping)
        culprit = None
        for key, value in original.items():
            mapping.clear()
            mapping[key] = value
            try:
                msgspec.convert(data, kind)
            except msgspec.ValidationError as exc:
                if _split_validation_error(str(exc))[0] == message:
                    culprit = key
                    break
        mapping.clear()
        mapping.update(original)
        if culprit is None:
            break
        location = f"{prefix}.{culprit}{rest}" if prefix else f"{culprit}{rest}"
    return location


def _value_at(data: object, location: str) -> object:
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", location):
        if isinstance(data, dict) and name:
            data = data.get(name)
        elif isinstance(data, list) and index and int(index) < len(data):
            data = data[int(index)]
        else:
            return None
    return data


def _split_validation_error(message: str) -> tuple[str, str]:
    reason, _, where = message.partition(" - at `$")
    return reason, where.rstrip("`").lstrip(".")


def line_of(text: str, location: str) -> int | None:
    """1-based line of the YAML node at `a.b[0].c`, or None."""
    node = _node_at(text, location)
    return node.start_mark.line + 1 if node is not None else None


def template_line(text: str, part: str, lineno: int | None) -> int | None:
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
