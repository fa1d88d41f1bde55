"""The command line of ddb-blueprint: `python -m stacks <command>` (what `./blueprint <command>` runs)."""

from __future__ import annotations

import argparse
import gc
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
    if result.replication:
        print("Global tables (replicas per region):")
        print("\n".join(f"  {n.render()}" for n in result.replication))
        print()
    print(render_guardrails(result.guardrails))
    print(f"\nplan written to {result.plan_path}; guardrail results to {result.guardrails_path}")
    if result.guardrails.mandatory_violations:
        print(f"error: {len(result.guardrails.mandatory_violations)} mandatory guardrail violation(s)", file=sys.stderr)
        return EXIT_GUARDRAILS
    if any(n.blocking for n in result.replication or []):
        print("error: AWS would refuse a replica change as planned (see Global tables above)", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _audit(args: argparse.Namespace) -> int:
    from .offline.audit import audit
    from .offline.preview import PreviewError

    from .offline.scanner import ExceptionsError

    try:
        result = audit(PROJECT_ROOT, args.stack, Path(args.out), scanner=not args.no_scanner)
    except (PreviewError, ExceptionsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    report = result.preview.guardrails
    print(f"security review written to {result.markdown_path} and {result.html_path}")
    print(f"guardrails: {len(report.mandatory_violations)} mandatory violation(s); isolation mismatches (grant proof and API routes): {result.isolation_failures}")
    print(f"policies not traced to a declaration: {result.untraced_policies}")
    scan = result.scanner
    if scan is None:
        print("scanner: not run (--no-scanner)")
    elif not scan.ran:
        print(f"warning: {scan.status}", file=sys.stderr)
    else:
        print(f"scanner: {scan.status}: {len(scan.findings)} findings, {len(scan.accepted)} accepted, {len(scan.new)} new")
        for finding in scan.new:
            print(f"  new: {finding.check} {finding.resource}: {finding.title}", file=sys.stderr)
    new_findings = len(scan.new) if scan is not None and scan.ran else 0
    if report.mandatory_violations or result.isolation_failures or result.untraced_policies or new_findings:
        print("error: the stack is not approvable as it stands (see the report)", file=sys.stderr)
        return EXIT_GUARDRAILS
    return 0


def _export_tf(args: argparse.Namespace) -> int:
    from .offline.preview import PreviewError, preview
    from .offline.terraform import write_terraform

    try:
        plan = preview(PROJECT_ROOT, args.stack, Path(args.out)).plan
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    path = write_terraform(plan, Path(args.out) / args.stack / "terraform")
    print(f"Terraform JSON written to {path} (for scanners such as checkov, tfsec, trivy; not for terraform apply)")
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
            if runtime.replicator is not None:
                assert runtime.local is not None
                regions = ", ".join(runtime.regions(sorted(runtime.local.replicas)[0]))
                print(f"global tables {', '.join(sorted(runtime.local.replicas))}: a table per region ({regions}), "
                      f"replicated {runtime.replicator.mode} (lag {runtime.replicator.lag_seconds} s, LOCAL_REPLICATION_LAG_SECONDS)")
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


def _smoke(args: argparse.Namespace) -> int:
    """Exit 0: every step as expected; 1: a step misbehaved (named, with what was expected); 2: bad input."""
    import json
    import uuid

    from .local.api_plan import load_api
    from .local.runtime import LocalRuntime, LocalRuntimeError
    from .offline.preview import PreviewError, preview
    from .operations.smoke import Smoke, SmokeFailure, deployed_target, local_target

    build = Path(args.out)
    try:
        if args.outputs is None:
            with LocalRuntime(PROJECT_ROOT, args.stack, build) as runtime:
                print(f"smoke test of the local runtime of {args.stack} at {runtime.url}")
                Smoke(local_target(runtime, settle_seconds=args.settle if args.settle is not None else 20.0)).run()
        else:
            text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
            outputs = json.loads(text)
            api = load_api(preview(PROJECT_ROOT, args.stack, build).plan)
            routes = {(r.method, r.path) for r in api.routes} if api is not None else set()
            run_id = uuid.uuid4().hex[:8]  # names the smoke's test data, users and queue
            target = deployed_target(outputs, routes, run_id, settle_seconds=args.settle if args.settle is not None else 300.0)
            print(f"smoke test of the deployed stack {args.stack} at {target.url}")
            Smoke(target, run_id=run_id).run()
    except SmokeFailure as failure:
        print(f"error: smoke test failed at {failure}", file=sys.stderr)
        return EXIT_GUARDRAILS
    except (OSError, ValueError, KeyError, PreviewError, LocalRuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print("smoke test passed; everything it created was removed")
    return 0


def _replay(args: argparse.Namespace) -> int:
    """Exit 0: every message replayed (or none waiting); 1: some left in the queue (listed); 2: bad input."""
    import json

    from .naming import function_name
    from .offline.preview import PreviewError, preview
    from .operations.replay import lambda_invoker, replay

    try:
        text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
        outputs = json.loads(text)
        plan = preview(PROJECT_ROOT, args.stack, Path(args.out)).plan
        mapping = stream_mapping(plan, function_name(plan["project"], args.stack, args.function))
        arn = outputs["functions"][args.function]
        region = outputs["region"]
    except (OSError, ValueError, KeyError, PreviewError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    import boto3

    session = boto3.Session(region_name=region)
    sqs = session.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"{function_name(plan['project'], args.stack, args.function)}-failures")["QueueUrl"]
    report = replay(sqs=sqs, streams=session.client("dynamodbstreams"), queue_url=queue_url,
                    invoke=lambda_invoker(session.client("lambda"), arn), filters=mapping["filters"], batch_size=mapping["batchSize"])
    print(report.render())
    return EXIT_GUARDRAILS if report.failed else 0


def stream_mapping(plan: dict, physical_function: str) -> dict:
    """The filters and batch size of the stream mapping that invokes a function, from the plan."""
    import json

    functions = {r["urn"]: r for r in plan["resources"] if r["type"] == "aws:lambda/function:Function"}
    streamed = {}
    for r in plan["resources"]:
        if r["type"] == "aws:lambda/eventSourceMapping:EventSourceMapping":
            for urn in r["propertyDependencies"].get("functionName", []):
                if urn in functions:
                    streamed[functions[urn]["inputs"]["name"]] = r["inputs"]
    if physical_function not in streamed:
        names = ", ".join(sorted(n.rsplit("-", 1)[-1] for n in streamed)) or "none"
        raise KeyError(f"{physical_function} is not invoked by a stream; functions with a failure queue: {names}")
    inputs = streamed[physical_function]
    return {"filters": [json.loads(f["pattern"]) for f in (inputs.get("filterCriteria") or {}).get("filters", [])],
            "batchSize": int(inputs.get("batchSize", 100))}


def _diff(args: argparse.Namespace) -> int:
    import json

    from .offline.changes import diff_plans, replica_notes

    try:
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.before, args.after))
    except (OSError, ValueError) as exc:  # missing, unreadable, not UTF-8, not JSON
        print(f"error: cannot read plan: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    changes = diff_plans(before, after)
    notes = replica_notes(before, after)
    print("\n".join(c.render() for c in changes) or "no changes")
    if notes:
        print("Global tables (replicas per region):")
        print("\n".join(f"  {n.render()}" for n in notes))
    removes_copies = any(n.kind in ("remove", "recreate") for n in notes)
    # A stateful resource or a replica's copy destroyed, an update AWS refuses, or a change pulumi up
    # would silently not make: each stops a pipeline.
    stops = any(c.destroys_data or c.ignored for c in changes) or removes_copies or any(n.blocking for n in notes)
    return EXIT_GUARDRAILS if stops else 0


def _outputs(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from .offline.mockrun import UNKNOWN
    from .offline.preview import PreviewError, preview
    from .outputs.contract import validation_errors

    if args.from_json:
        try:
            text = sys.stdin.read() if args.from_json == "-" else Path(args.from_json).read_text(encoding="utf-8")
            outputs = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: cannot read `pulumi stack output --json` output from {args.from_json}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        source = args.from_json if args.from_json != "-" else "stdin"
    else:
        try:
            outputs = preview(PROJECT_ROOT, args.stack, Path(args.out or tempfile.mkdtemp())).plan["outputs"]
        except PreviewError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        source = "offline preview; ARNs and ids are known after apply"
    if args.json:
        print(json.dumps(outputs, indent=2, sort_keys=True))
    else:
        print(f"outputs of {args.stack} ({source}):")
        for path, value in _flatten(outputs):
            shown = "(known after apply)" if value == UNKNOWN else json.dumps(value) if not isinstance(value, str) else value
            print(f"  {path:40} {shown}")
    errors = validation_errors(outputs)
    for error in errors:
        print(f"error: outputs break contracts/outputs.schema.json: {error}", file=sys.stderr)
    return EXIT_GUARDRAILS if errors else 0


def _flatten(value, path: str = ""):  # type: ignore[no-untyped-def]
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _flatten(value[key], f"{path}.{key}" if path else key)
    else:
        yield path, value


def _docs(args: argparse.Namespace) -> int:
    from .offline.docs import write_reference

    changed = write_reference(PROJECT_ROOT)
    print("README.md config reference and outputs table " + ("updated" if changed else "already up to date"))
    return 0


def _facts(args: argparse.Namespace) -> int:
    from .offline.facts import unresolved, write_index

    missing = unresolved(PROJECT_ROOT)
    for fact, files in sorted(missing.items()):
        print(f"error: fact {fact} is cited in {', '.join(files)} but not defined in docs/aws-facts.md", file=sys.stderr)
    changed = write_index(PROJECT_ROOT)
    print("docs/aws-facts.md citation index " + ("updated" if changed else "already up to date"))
    return EXIT_CONFIG if missing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="./blueprint", description="ddb-blueprint's commands (also: python -m stacks <command>). "
        "Each command has --help.",
        epilog="./blueprint test [pytest args] runs the test suite (pytest; --help lists pytest's options).")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("preview", help="run the program offline under mocks; write build/<stack>/plan.json")
    cmd.add_argument("stack", help="stack name: dev, staging or prod (reads Pulumi.<stack>.yaml)")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="output directory (default: build/)")
    cmd.set_defaults(run=_preview)
    cmd = commands.add_parser("audit", help="preview, then write build/<stack>/security-review.md and .html")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="output directory (default: build/)")
    cmd.add_argument("--no-scanner", action="store_true", help="skip checkov (the review then says it did not run)")
    cmd.set_defaults(run=_audit)
    cmd = commands.add_parser("export-tf", help="write the plan as Terraform JSON: build/<stack>/terraform/main.tf.json")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="output directory (default: build/)")
    cmd.set_defaults(run=_export_tf)
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
    cmd = commands.add_parser("smoke", help="check a running stack end to end with its own test users and data (local runtime by default)")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("--outputs", metavar="FILE", help="`pulumi stack output --json` of the deployed stack (a file, or - for stdin); "
                                                       "without it, the stack's local runtime is checked")
    cmd.add_argument("--settle", type=float, metavar="SECONDS", help="how long eventually consistent answers are awaited "
                                                                     "(default 300 deployed: KMS alias authorization, 20 local)")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="build directory (default: build/)")
    cmd.set_defaults(run=_smoke)
    cmd = commands.add_parser("replay", help="replay the stream records behind a function's failure-queue messages; delete each only on success")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("function", help="the stream function (e.g. orderStats)")
    cmd.add_argument("--outputs", metavar="FILE", required=True, help="`pulumi stack output --json` of the deployed stack (a file, or - for stdin)")
    cmd.add_argument("--out", default=str(PROJECT_ROOT / "build"), help="build directory (default: build/)")
    cmd.set_defaults(run=_replay)
    cmd = commands.add_parser("diff", help="changes between two plans; exit 1 if a table or key would be replaced or deleted, a replica removed or recreated, or a replica change AWS refuses")
    cmd.add_argument("before", help="plan.json before the change (e.g. from main)")
    cmd.add_argument("after", help="plan.json after the change")
    cmd.set_defaults(run=_diff)
    cmd = commands.add_parser("outputs", help="the stack outputs (offline from the plan, or from `pulumi stack output --json`), checked against the contract")
    cmd.add_argument("stack", help="stack name: dev, staging or prod")
    cmd.add_argument("--from-json", metavar="FILE", help="read `pulumi stack output --json` output from FILE (- for stdin) instead of previewing")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of one line per output")
    cmd.add_argument("--out", default=None, help="build directory for the preview (default: a temporary one)")
    cmd.set_defaults(run=_outputs)
    cmd = commands.add_parser("docs", help="regenerate the config reference in README.md from Pulumi.yaml and the model")
    cmd.set_defaults(run=_docs)
    cmd = commands.add_parser("facts", help="check that every cited AWS fact id resolves; regenerate the citation index of docs/aws-facts.md")
    cmd.set_defaults(run=_facts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit 2 with argparse's message
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
    # The interpreter's shutdown collects garbage over everything still alive (a preview leaves
    # pulumi_aws's ~700 modules and the run's outputs): a few hundred ms for nothing at exit.
    gc.freeze()
    if code == EXIT_INTERRUPTED:
        # Leave at once: the interrupted run's threads and tasks have nothing left worth finishing,
        # and tearing them down would print their tracebacks.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
