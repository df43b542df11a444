"""Write the schema's SDL to `schema.graphql` at the repository root.

    python -m app.resolvers.export            # (re)generate the file
    python -m app.resolvers.export --check    # exit 1 when the committed file is stale

The file is the generated, reviewable truth of the public API; a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.resolvers.root import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
REGENERATE = "python -m app.resolvers.export"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.resolvers.export",
        description="Write the GraphQL schema (SDL) to schema.graphql at the repository root.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when schema.graphql differs from the schema",
    )
    parser.add_argument(
        "--output", type=Path, default=SCHEMA_FILE, help=f"file to write (default {SCHEMA_FILE})"
    )
    args = parser.parse_args(argv)
    output: Path = args.output
    sdl = schema_sdl()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != sdl:
            print(f"{output} is stale: run `{REGENERATE}`.", file=sys.stderr)
            sys.exit(1)
        print(f"{output} is up to date.")
        return
    output.write_text(sdl, encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
