"""Text the pipeline commands print: the outcome of a run, past pipeline runs, and the DAG."""
from __future__ import annotations

from pathlib import Path


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain aligned table (no pandas: this path must stay fast)."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def print_result(result) -> None:
    rows = []
    for name, st in result.states.items():
        detail = st.outcome.describe() if st.status == "FAILED" and st.outcome else st.note
        rows.append({"step": name, "status": st.status, "seconds": f"{st.seconds:.1f}" if st.seconds else "",
                     "run": (st.run_id or "")[:8], "detail": detail})
    print(format_table(rows, ["step", "status", "seconds", "run", "detail"]))
    for report in result.failures():
        print()
        print(report)
    if result.sweep:
        metric = [k for k in result.sweep[0] if k not in ("node", "run_id", "status")][-1]
        print()
        print(f"sweep, best first by {metric}:")
        columns = [k for k in result.sweep[0] if k != "run_id"]
        print(format_table([{**r, "node": r["node"] + (" *best*" if i == 0 and r[metric] is not None else "")}
                            for i, r in enumerate(result.sweep)], columns))
    print()
    print(f"pipeline run {result.run_id[:8]} {result.status}; executed notebooks in {result.executed_dir}")
    print(next_hint(result))


def next_hint(result) -> str:
    """What to do next: approve the run that holds the pipeline's model, when there is one."""
    from ..exceptions import InvalidInputError
    from ..tracking.model_runs import model_run_of
    from ..tracking.store import open_store

    listing = f"jupyter mlops runs --filter \"parent = '{result.run_id}'\""
    if result.ok:
        try:
            model_run, _ = model_run_of(open_store(result.store_uri), result.run_id)
        except InvalidInputError:
            model_run = None
        if model_run is not None:
            step = next((name for name, st in result.states.items() if st.result_run == model_run), model_run[:8])
            return (f"next: jupyter mlops approve {model_run[:8]} --reason TEXT   (the model of step {step}; "
                    f"then jupyter mlops export {model_run[:8]} --name NAME)  |  {listing}")
    return f"next: jupyter mlops show {result.run_id[:8]}  |  {listing}"


def pipeline_runs_table(max_results: int = 20) -> str:
    from ..tracking.search import search_runs
    from ..tracking.store import open_store

    store = open_store()
    pipelines = search_runs(store, filter="tags.mlops.kind = 'pipeline'", max_results=max_results)
    if pipelines.empty:
        return "(no pipeline runs)"
    rows = []
    for _, p in pipelines.iterrows():
        steps = search_runs(store, filter=f"parent = '{p['run_id']}'", order_by=["start_time ASC"],
                            unexecuted_steps=True)
        summary = " ".join(f"{s['name']}:{s['status']}" for _, s in steps.iterrows())
        rows.append({"run": p["run_id"][:8], "pipeline": p["name"], "status": p["status"],
                     "started": p["start_time"].strftime("%Y-%m-%d %H:%M:%S"), "steps": summary})
    return format_table(rows, ["run", "pipeline", "status", "started", "steps"])


def dag_text(spec) -> str:
    lines = [f"{spec.name} ({spec.path})"]
    for name in spec.order():
        step = spec.steps[name]
        ups = f"  <- {', '.join(step.upstream)}" if step.upstream else ""
        swept = "  [sweep]" if spec.sweep and spec.sweep.step == name else ""
        lines.append(f"  {name}: {Path(step.notebook).name}{ups}{swept}")
    return "\n".join(lines)


def dag_dot(spec) -> str:
    lines = [f'digraph "{spec.name}" {{', "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for name in spec.order():
        lines.append(f'  "{name}" [label="{name}\\n{Path(spec.steps[name].notebook).name}"];')
        lines += [f'  "{up}" -> "{name}";' for up in spec.steps[name].upstream]
    lines.append("}")
    return "\n".join(lines)


def dag_levels(spec) -> dict[str, int]:
    """Each step's column in a left-to-right drawing: one more than its deepest upstream step."""
    level: dict[str, int] = {}
    for name in spec.order():
        level[name] = 1 + max((level[u] for u in spec.steps[name].upstream), default=-1)
    return level


def dag_png(spec, path: Path) -> None:
    from ..extras import require

    matplotlib = require("matplotlib", "drawing the pipeline as PNG")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = dag_levels(spec)
    columns: dict[int, list[str]] = {}
    for name, col in level.items():
        columns.setdefault(col, []).append(name)
    pos = {name: (col, -i) for col, names in columns.items() for i, name in enumerate(names)}
    fig, ax = plt.subplots(figsize=(2.2 * (len(columns) + 1), 1.2 * (max(len(v) for v in columns.values()) + 1)))
    for name, (x, y) in pos.items():
        for up in spec.steps[name].upstream:
            ux, uy = pos[up]
            ax.annotate("", xy=(x - 0.35, y), xytext=(ux + 0.35, uy), arrowprops={"arrowstyle": "->"})
        ax.text(x, y, name, ha="center", va="center", bbox={"boxstyle": "round", "fc": "#e3f2fd"})
    ax.set_xlim(-0.7, len(columns) - 0.3)
    ax.set_ylim(min(y for _, y in pos.values()) - 0.7, 0.7)
    ax.axis("off")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
