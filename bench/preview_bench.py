"""Offline preview speed: prod against a bare `import pulumi, pulumi_aws`, and growth with the table count.

Every measurement is a fresh process (what a developer waits for), best of --runs rounds in which
the commands take turns, all in this one run of the script, so the ratios compare like with like on
the same machine at the same moment.
Both wall time and CPU time (user+sys of the child) are reported: on a shared machine the wall time
moves with the load, the CPU time much less.

Growth: copies of the project whose data model is the reference model (Pulumi.yaml's tables, which
the access model, API and functions refer to) topped up to N tables with copies of the reference
table shapes, under prod's stack file. The marginal cost is per table and per registered resource.

The floor: a process that only imports the `pulumi_aws` modules prod's resources live in (ec2 for
the DAX network, apigateway, cloudwatch, ...; each module loads all of its resource classes) and
registers nothing. No preview of this stack can be faster, so the preview is also reported against it.

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed from their environment), as
on a developer's machine: otherwise every run compiles the project's own modules again.

Run: .venv/bin/python bench/preview_bench.py [--runs 5]     (about a minute)
     .venv/bin/python bench/preview_bench.py --small        (one run each, smaller models: seconds; CI runs it)
Targets (issue 10): prod preview under 3x the bare import; growth from 10 to 100 tables near-linear.
"""

from __future__ import annotations

import argparse
import copy
import json
import keyword
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TABLES_KEY = "ddb-blueprint:tables"
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user+sys of the child process
    out: Path | None = None  # the last run's --out directory


def measure(command: list[str], cwd: Path, fresh_out: bool) -> tuple[float, float, Path | None]:
    """Wall and CPU time of one fresh process, and its --out directory. Exit 0, or 1 from a preview
    (mandatory guardrail violations: the plan is still written; prod's stack file leaves the SES
    identity to the deploying team, so its preview reports that one violation)."""
    out = Path(tempfile.mkdtemp(prefix="preview-bench-")) if fresh_out else None
    argv = [*command, "--out", str(out)] if out else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=child_environment(cwd))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1) or (done.returncode == 1 and "mandatory guardrail violation" not in done.stderr):
        sys.exit(f"benchmark command failed (exit {done.returncode}): {' '.join(argv)}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def child_environment(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(cwd)}


def provider_modules(plan: dict) -> dict[str, str]:
    """One resource class per `pulumi_aws` module the plan's resources come from, e.g.
    {"ec2": "Vpc", "lambda_": "Function"} for "aws:ec2/vpc:Vpc", "aws:lambda/function:Function"."""
    modules: dict[str, str] = {}
    for resource in plan["resources"]:
        package, _, rest = resource["type"].partition(":")
        if package != "aws" or "/" not in rest:
            continue
        module, class_name = rest.split("/", 1)[0], rest.rsplit(":", 1)[1]
        modules.setdefault(module + "_" if keyword.iskeyword(module) else module, class_name)
    return dict(sorted(modules.items()))


def floor_command(python: str, plan: dict) -> list[str]:
    """A process that loads the provider modules the plan needs (pulumi_aws loads a module lazily, on
    first attribute access, and then all of its classes) and does nothing else."""
    loads = "; ".join(f"aws.{module}.{class_name}" for module, class_name in provider_modules(plan).items())
    # Frozen before exit, as the CLI does: the interpreter's final collection is not import time.
    return [python, "-c", f"import gc, pulumi, pulumi_aws as aws; {loads}; gc.freeze()"]


def best_of(runs: int, commands: dict[str, tuple[list[str], Path, bool]]) -> dict[str, Timing]:
    """Minimum wall and minimum CPU time per command over `runs` rounds. The commands take turns
    within each round, so a change in the machine's load touches them all alike."""
    samples: dict[str, list[tuple[float, float, Path | None]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, cwd, fresh_out) in commands.items():
            samples[name].append(measure(command, cwd, fresh_out))
    return {name: Timing(min(w for w, _, _ in runs_), min(c for _, c, _ in runs_), runs_[-1][2])
            for name, runs_ in samples.items()}


def generated_project(tables: int, root: Path) -> Path:
    """A copy of the project whose model holds the reference tables topped up to `tables` tables."""
    shutil.copy(REPO / "__main__.py", root / "__main__.py")
    for name in ("stacks", "policies", "lambdas"):
        (root / name).symlink_to(REPO / name)
    # The function dependencies' wheels come from the repository's cache (keyed by requirements), as
    # in any later preview of a project: the benchmark measures previews, not pip downloads.
    (REPO / "build" / "dependencies").mkdir(parents=True, exist_ok=True)
    (root / "build").mkdir()
    (root / "build" / "dependencies").symlink_to(REPO / "build" / "dependencies")
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    model = project["config"][TABLES_KEY]["value"]
    shapes = list(model.values())
    if tables < len(shapes):
        raise SystemExit(f"the reference model already has {len(shapes)} tables; ask for at least that many")
    for i in range(len(shapes), tables):
        model[f"table{i:03d}"] = copy.deepcopy(shapes[i % len(shapes)])
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    shutil.copy(REPO / "Pulumi.prod.yaml", root / "Pulumi.bench.yaml")
    return root


def resource_count(out: Path, stack: str) -> int:
    return len(json.loads((out / stack / "plan.json").read_text(encoding="utf-8"))["resources"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of fresh processes (best of)")
    parser.add_argument("--small", action="store_true", help="one run each, 10/20/40 tables: a smoke test in seconds")
    args = parser.parse_args()
    runs = 1 if args.small else args.runs
    sizes = (10, 20, 40) if args.small else (10, 50, 100)
    python = sys.executable
    preview = [python, "-m", "stacks", "preview"]

    prod_command = ([*preview, "prod"], REPO, True)
    # The full run starts with a warm-up preview (not timed): it packages the functions into build/
    # and caches bytecode, as any earlier preview on a developer's machine has. The small run skips
    # it (its figures are a smoke test, not a measurement): its one timed prod run comes first.
    first = Timing(*measure(*prod_command))
    prod_plan = json.loads((first.out / "prod" / "plan.json").read_text(encoding="utf-8"))  # names prod's modules
    commands: dict[str, tuple[list[str], Path, bool]] = {
        "bare": ([python, "-c", "import pulumi, pulumi_aws"], REPO, False),
        "floor": (floor_command(python, prod_plan), REPO, False),
    }
    if not args.small:
        commands["prod"] = prod_command
    for count in sizes:
        root = generated_project(count, Path(tempfile.mkdtemp(prefix="preview-bench-project-")))
        commands[f"{count} tables"] = ([*preview, "bench"], root, True)
    timings = best_of(runs, commands)
    if args.small:
        timings["prod"] = first
    bare, floor, prod = timings["bare"], timings["floor"], timings["prod"]
    prod_resources = resource_count(prod.out, "prod")
    grown = {count: (timings[f"{count} tables"], resource_count(timings[f"{count} tables"].out, "bench")) for count in sizes}

    wall_ratio, cpu_ratio = prod.wall / bare.wall, prod.cpu / bare.cpu
    how = ("--small: one round, no warm-up; a smoke test, the figures are noise" if args.small
           else f"best of {runs} round(s) of fresh processes taking turns, after a warm-up preview")
    print(f"preview benchmark ({how}): wall and CPU (user+sys) time, all in this one run")
    print(f"bare import pulumi, pulumi_aws : wall {bare.wall:6.3f} s  cpu {bare.cpu:6.3f} s")
    print(f"preview prod ({prod_resources} resources)  : wall {prod.wall:6.3f} s  cpu {prod.cpu:6.3f} s")
    verdict = ", ".join(f"{kind} {'met' if ratio < TARGET_RATIO else 'NOT met'}"
                        for kind, ratio in (("wall", wall_ratio), ("cpu", cpu_ratio)))
    print(f"prod / bare import             : {wall_ratio:4.2f}x wall, {cpu_ratio:4.2f}x cpu (target < {TARGET_RATIO:g}x: {verdict})")
    modules = provider_modules(prod_plan)
    print(f"floor: import the {len(modules)} provider modules prod uses: wall {floor.wall:6.3f} s  cpu {floor.cpu:6.3f} s"
          f"  = {floor.cpu / bare.cpu:4.2f}x the bare import (cpu)")
    print(f"prod / floor                   : {prod.wall / floor.wall:4.2f}x wall, {prod.cpu / floor.cpu:4.2f}x cpu "
          f"(the preview's own work: {(prod.cpu - floor.cpu) * 1000:5.0f} ms cpu, "
          f"{(prod.cpu - floor.cpu) / prod_resources * 1000:4.2f} ms per resource)")
    for count, (timing, resources) in grown.items():
        print(f"preview {count:3d} tables ({resources:3d} resources): wall {timing.wall:6.3f} s  cpu {timing.cpu:6.3f} s")
    small, middle, large = sizes
    (t_small, r_small), (t_middle, r_middle), (t_large, r_large) = grown[small], grown[middle], grown[large]
    per_resource = (t_large.cpu - t_small.cpu) / (r_large - r_small)
    per_table = (t_large.cpu - t_small.cpu) / (large - small)
    print(f"{large} / {small} tables              : {t_large.wall / t_small.wall:4.2f}x wall, {t_large.cpu / t_small.cpu:4.2f}x cpu "
          f"({r_large / r_small:4.2f}x the resources)")
    print(f"marginal cost ({small}->{large} tables, cpu): {per_table * 1000:6.1f} ms per table, "
          f"{per_resource * 1000:5.2f} ms per resource")
    first = (t_middle.cpu - t_small.cpu) / (r_middle - r_small)
    second = (t_large.cpu - t_middle.cpu) / (r_large - r_middle)
    print(f"linearity (cpu per resource)   : {first * 1000:5.2f} ms ({small}->{middle}) vs {second * 1000:5.2f} ms "
          f"({middle}->{large}) = {second / first if first > 0 else float('inf'):4.2f}")


if __name__ == "__main__":
    main()
