"""``run``, ``pipelines``, ``dag`` and ``reproduce``: pipeline specs run, listed, drawn and re-run."""
from __future__ import annotations

import sys
from pathlib import Path

from .console import EXIT_FAILED


def register(sub) -> None:
    p = sub.add_parser("run", help="run a pipeline spec (pipeline.yaml)")
    p.add_argument("spec", type=Path)
    p.add_argument("-j", "--jobs", type=int, help="steps at once (default: number of cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    p.add_argument("--force", nargs="?", const="*", action="append", metavar="STEP",
                   help="re-run every step, or STEP and its downstream steps, ignoring the cache")
    p.add_argument("--from", dest="from_step", metavar="STEP", help="re-run STEP and everything downstream of it")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[STEP.]KEY=VALUE",
                   help="override a parameter of every step, or of one step")
    p.add_argument("-f", "--parameters-file", type=Path, metavar="PARAMS.yaml",
                   help="parameters from a YAML file (KEY: VALUE, STEP.KEY: VALUE, or STEP: {KEY: VALUE}), "
                        "as papermill's -f; -p wins over it")
    p.add_argument("--fail-fast", action="store_true", help="stop everything at the first failing step")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run and what is cached (and, for each step that is not, what changed); "
                        "run and record nothing")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--to", metavar="STEP", help="run STEP and every step it depends on, nothing downstream")
    chosen.add_argument("--only", metavar="STEP",
                        help="run just STEP (even if cached), on its upstream steps' cached results; refused when "
                             "one has none")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("pipelines", help="past pipeline runs with the status of each step")
    p.add_argument("--max-results", "-n", type=int, default=20)
    p.set_defaults(handler=cmd_pipelines)

    p = sub.add_parser("dag", help="show a pipeline's steps and their dependencies")
    p.add_argument("spec", type=Path)
    p.add_argument("--format", choices=("text", "dot", "png"), default="text")
    p.add_argument("--output", "-o", type=Path, help="file for --format png (default: <spec>.png)")
    p.set_defaults(handler=cmd_dag)

    p = sub.add_parser("reproduce", help="re-run the pipeline a model version was trained by and compare metrics")
    p.add_argument("ref", help="model reference: name, name/3 or name@alias")
    p.add_argument("--tolerance", type=float, default=1e-9, help="relative and absolute tolerance per metric")
    p.add_argument("--jobs", "-j", type=int, help="parallel steps")
    p.set_defaults(handler=cmd_reproduce)


def cmd_run(args) -> int:
    from ..pipeline import plan
    from ..pipeline.progress import ConsoleProgress
    from ..pipeline.report import print_result
    from ..pipeline.runner import PipelineRunner, Stopped
    from ..pipeline.spec import load_spec

    spec = load_spec(args.spec)
    overrides = list(args.param)
    if args.parameters_file is not None:
        from ..pipeline.params_file import overrides_from_file

        overrides = overrides_from_file(args.parameters_file, spec) + overrides
    if overrides:
        spec = spec.with_overrides(overrides)
    spec = plan.select_steps(spec, to=args.to, only=args.only)
    force = None
    if args.force:
        force = True if "*" in args.force else set(args.force)
    if args.only:
        force = True if force is True else (force or set()) | {args.only}

    def runner():
        return PipelineRunner(spec, jobs=args.jobs, executor=args.executor, scheduler=args.scheduler, force=force,
                              from_step=args.from_step, fail_fast=args.fail_fast)

    if args.dry_run or args.only:
        planner = runner()
        planned = plan.dry_run(planner)
        if args.dry_run:
            print(plan.describe(planned, spec))
            return 0
        plan.check_only(planned, planner, args.only)
    pipeline = runner()
    pipeline.progress = progress = ConsoleProgress(total=len(pipeline.nodes))  # sweep points are nodes too
    try:
        result = pipeline.run()
    except Stopped as stop:
        progress.close()
        print("jupyter mlops run: stopped; running steps were killed", file=sys.stderr)
        if stop.args and hasattr(stop.args[0], "states"):
            print_result(stop.args[0])
        return 128 + stop.signum  # 130 after Ctrl-C, 143 after SIGTERM, as shells report them
    progress.close()
    print_result(result)
    return 0 if result.ok else EXIT_FAILED


def cmd_pipelines(args) -> int:
    from ..pipeline.report import pipeline_runs_table

    print(pipeline_runs_table(args.max_results))
    return 0


def cmd_dag(args) -> int:
    from ..pipeline.report import dag_dot, dag_png, dag_text
    from ..pipeline.spec import load_spec

    spec = load_spec(args.spec)
    if args.format == "dot":
        print(dag_dot(spec))
    elif args.format == "png":
        out = args.output or args.spec.with_suffix(".png")
        dag_png(spec, out)
        print(out)
    else:
        print(dag_text(spec))
    return 0


def cmd_reproduce(args) -> int:
    from ..pipeline.reproduce import reproduce

    result = reproduce(args.ref, tolerance=args.tolerance, jobs=args.jobs)
    print(result.describe())
    return 0 if result.matches else EXIT_FAILED
