"""Offline tools: `python -m stacks preview <stack>` and `python -m stacks docs`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .runtime_config import PROJECT_ROOT

EXIT_GUARDRAILS = 1
EXIT_CONFIG = 2


def _preview(args: argparse.Namespace) -> int:
    from .offline.plan import render_guardrails, render_tree
    from .offline.preview import PreviewError, preview

    try:
        result = preview(PROJECT_ROOT, args.stack, Path(args.out))
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(render_tree(result.plan))
    print()
    print(render_guardrails(result.guardrails))
    print(f"\nplan written to {result.plan_path}; guardrail results to {result.guardrails_path}")
    if result.guardrails.mandatory_violations:
        print(f"error: {len(result.guardrails.mandatory_violations)} mandatory guardrail violation(s)", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _docs(args: argparse.Namespace) -> int:
    from .docs import write_reference

    changed = write_reference(PROJECT_ROOT)
    print("README.md config reference " + ("updated" if changed else "already up to date"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("preview", help="run the program offline under mocks; write build/<stack>/plan.json")
    cmd.add_argument("stack", help="stack name: dev, staging or prod (reads Pulumi.<stack>.yaml)")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="output directory (default: build/)")
    cmd.set_defaults(run=_preview)
    cmd = commands.add_parser("docs", help="regenerate the config reference in README.md from Pulumi.yaml and the model")
    cmd.set_defaults(run=_docs)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
