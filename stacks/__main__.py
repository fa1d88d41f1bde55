"""Offline tools: `python -m stacks preview|audit <stack>`, `diff`, `docs`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# The project the package sits in (not resolved: a project that links this package in keeps its
# own root). Computed here, without importing Pulumi, so that even an early Ctrl-C ends cleanly.
PROJECT_ROOT = Path(__file__).absolute().parent.parent

EXIT_GUARDRAILS = 1
EXIT_CONFIG = 2  # configuration, usage or environment: nothing was approved
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it (128 + SIGINT)


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
    if result.changes is not None:
        print("Changes since the previous preview of this stack:")
        print("\n".join(f"  {c.render()}" for c in result.changes) or "  none")
        print()
    print(render_guardrails(result.guardrails))
    print(f"\nplan written to {result.plan_path}; guardrail results to {result.guardrails_path}")
    if result.guardrails.mandatory_violations:
        print(f"error: {len(result.guardrails.mandatory_violations)} mandatory guardrail violation(s)", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _audit(args: argparse.Namespace) -> int:
    from .offline.audit import audit
    from .offline.preview import PreviewError

    try:
        result = audit(PROJECT_ROOT, args.stack, Path(args.out))
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    report = result.preview.guardrails
    print(f"security review written to {result.markdown_path} and {result.html_path}")
    print(f"guardrails: {len(report.mandatory_violations)} mandatory violation(s); isolation proof mismatches: {result.isolation_failures}")
    if report.mandatory_violations or result.isolation_failures:
        print("error: the stack is not approvable as it stands (see the report)", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _snapshots(args: argparse.Namespace) -> int:
    import tempfile

    from .offline import snapshots
    from .offline.preview import PreviewError, preview

    stacks = args.stacks or sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))
    changed = 0
    for stack in stacks:
        try:
            plan = preview(PROJECT_ROOT, stack, Path(tempfile.mkdtemp())).plan
        except PreviewError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if args.update:
            print(f"wrote {snapshots.update(PROJECT_ROOT, plan)}")
            continue
        diff = snapshots.compare(PROJECT_ROOT, plan)
        if diff:
            changed += 1
            print(diff)
        else:
            print(f"{stack}: policies match the reviewed snapshot")
    if changed:
        print(f"error: {changed} stack(s) changed policies; review the diff, then ./blueprint snapshots --update", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _local(args: argparse.Namespace) -> int:
    import time

    from .local.api_plan import ApiPlanError
    from .local.aws import LocalAwsError
    from .local.runtime import LocalRuntime, LocalRuntimeError, curl_example, seed_catalogue
    from .local.tokens import LocalIssuer
    from .local.tour import run_tour
    from .offline.preview import PreviewError

    build = Path(args.out)
    if args.token:
        if not (PROJECT_ROOT / f"Pulumi.{args.stack}.yaml").exists():
            print(f"error: no stack file Pulumi.{args.stack}.yaml", file=sys.stderr)
            return EXIT_CONFIG
        print(LocalIssuer.for_stack(build, args.stack).mint(args.token))
        return 0
    try:
        with LocalRuntime(PROJECT_ROOT, args.stack, build, port=args.port) as runtime:
            seeded = seed_catalogue(runtime)
            print(f"local runtime for {args.stack}: API at {runtime.url} (DynamoDB and KMS in moto; {seeded} sample products)")
            if args.tour:
                print()
                outcomes = run_tour(runtime)
                failed = [o for o in outcomes if not o.ok]
                print(f"\ntour: {len(outcomes) - len(failed)} of {len(outcomes)} steps as expected; local runtime stopped")
                return EXIT_GUARDRAILS if failed else 0
            print(f"try:  {curl_example(runtime)}")
            print(f"a token for another user:  ./blueprint local {args.stack} --token bob")
            print("Ctrl-C stops")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopped")
        return 0
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (LocalRuntimeError, LocalAwsError, ApiPlanError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _diff(args: argparse.Namespace) -> int:
    import json

    from .offline.changes import diff_plans

    try:
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.before, args.after))
    except (OSError, ValueError) as exc:  # missing, unreadable, not UTF-8, not JSON
        print(f"error: cannot read plan: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    changes = diff_plans(before, after)
    print("\n".join(c.render() for c in changes) or "no changes")
    return EXIT_GUARDRAILS if any(c.destroys_data for c in changes) else 0


def _docs(args: argparse.Namespace) -> int:
    from .offline.docs import write_reference

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
    cmd = commands.add_parser("audit", help="preview, then write build/<stack>/security-review.md and .html")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="output directory (default: build/)")
    cmd.set_defaults(run=_audit)
    cmd = commands.add_parser("snapshots", help="compare generated policies with the reviewed snapshots (or --update them)")
    cmd.add_argument("stacks", nargs="*", help="stacks (default: every Pulumi.<stack>.yaml)")
    cmd.add_argument("--update", action="store_true", help="rewrite tests/snapshots/iam/<stack>.json")
    cmd.set_defaults(run=_snapshots)
    for name, helptext in (("local", "serve the stack's API on localhost against moto (Ctrl-C stops)"),
                           ("tour", "start the local runtime, run a scripted tour of the API, stop")):
        cmd = commands.add_parser(name, help=helptext)
        cmd.add_argument("stack", help="stack name: dev, staging or prod")
        cmd.add_argument("--port", type=int, default=0 if name == "tour" else 8080, help="gateway port on 127.0.0.1")
        cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="build directory (default: build/)")
        cmd.add_argument("--token", metavar="USER", help="print a local ID token for USER and exit")
        cmd.set_defaults(run=_local, tour=name == "tour")
    cmd = commands.add_parser("diff", help="changes between two plans; exit 1 if a table or key would be replaced or deleted")
    cmd.add_argument("before", help="plan.json before the change (e.g. from main)")
    cmd.add_argument("after", help="plan.json after the change")
    cmd.set_defaults(run=_diff)
    cmd = commands.add_parser("docs", help="regenerate the config reference in README.md from Pulumi.yaml and the model")
    cmd.set_defaults(run=_docs)
    args = parser.parse_args(argv)  # usage errors exit 2 with argparse's message
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run one command; a user's mistake or the environment ends it with one line, never a traceback."""
    from .config.errors import ConfigError
    from .functions.packaging import PackagingError

    previous = signal.getsignal(signal.SIGINT)
    if args.run is not _local:
        # Ctrl-C ends an offline command at once, with one line. Letting KeyboardInterrupt unwind
        # through Pulumi's mock runtime can print its abandoned tasks' tracebacks or wait forever
        # for RPCs that will never finish. (The local runtime catches it itself: it stops its servers.)
        signal.signal(signal.SIGINT, _exit_on_interrupt)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return _interrupted()
    except ConfigError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return EXIT_CONFIG
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # an output directory that is a file, a full disk, a file without permission
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    except UnicodeDecodeError as exc:  # a file the command reads is not text
        print(f"error: a file is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be restored
            signal.signal(signal.SIGINT, previous)


def _exit_on_interrupt(_signum: int, _frame: object) -> None:
    print("\ninterrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _interrupted() -> int:
    import logging

    # The interrupted run's abandoned asyncio tasks would otherwise log their KeyboardInterrupt.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    print("\ninterrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def entry() -> None:
    try:
        code = main()
    except KeyboardInterrupt:  # during start-up, before a command runs
        code = _interrupted()
    if code == EXIT_INTERRUPTED:
        # Leave at once: the interrupted run's threads and tasks have nothing left worth finishing,
        # and tearing them down would print their tracebacks.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
