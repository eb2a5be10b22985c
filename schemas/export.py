"""Generate the published JSON Schema files (`schemas/<name>.v<major>.json`) from the models.

python -m schemas.export          # rewrite the files
python -m schemas.export --check  # exit 1 when a file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas import SCHEMAS

SCHEMA_DIR = Path(__file__).resolve().parent


def json_schema(name: str, major: int) -> dict[str, Any]:
    model = SCHEMAS[(name, major)]
    document: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://attache.dev/schemas/{name}/v{major}",
    }
    document.update(model.model_json_schema())
    return document


def render(name: str, major: int) -> str:
    return json.dumps(json_schema(name, major), indent=2, ensure_ascii=False) + "\n"


def schema_path(name: str, major: int) -> Path:
    return SCHEMA_DIR / f"{name}.v{major}.json"


def main(argv: list[str]) -> int:
    stale = []
    for name, major in SCHEMAS:
        path, text = schema_path(name, major), render(name, major)
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path} is stale: run `python -m schemas.export`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
