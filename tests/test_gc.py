"""``jupyter mlops gc``: deleted runs purged, unreferenced artifact blobs collected, the registry's kept."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.exceptions import RunNotFoundError
from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.registry.run_lifecycle import registry_runs
from jupyter_mlops.tracking import garbage, lifecycle_states
from jupyter_mlops.tracking import schema as s
from jupyter_mlops.tracking.store import open_store

from .test_registry import train_run


def blobs(store) -> set[str]:
    return {sha for sha, _, _ in store.artifacts.iter_blobs()}


def rows_of(store, run_id: str) -> int:
    """Rows that still name the run, over every table that refers to runs."""
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(s.runs).where(s.runs.c.uuid == run_id)).scalar_one()
        for table, columns in lifecycle_states.tables_holding_runs():
            for column in columns:
                total += conn.execute(select(func.count()).select_from(table).where(column == run_id)).scalar_one()
    return total


def test_gc_collects_deleted_runs_blobs_and_old_orphans(artifact_backend, capsys):
    with mlops.start_run("gone", params={"p": 1}) as gone:
        mlops.log_metric("m", 1.0)
        only_gone = mlops.log_artifact("only in the deleted run", name="a.txt")
        shared = mlops.log_artifact("in both runs", name="shared.txt")
    with mlops.start_run("stays") as stays:
        mlops.log_artifact("in both runs", name="shared.txt")
        only_stays = mlops.log_artifact("only in the run that stays", name="b.txt")
    store = open_store()
    orphan, orphan_size = store.artifacts.put_bytes(b"no run refers to me")  # e.g. a run row removed by hand
    mlops.delete_run(gone.id)
    before = blobs(store)
    assert {only_gone, shared, only_stays, orphan} <= before

    assert main(["gc"]) == 0  # a dry run
    out = capsys.readouterr().out
    assert "would purge 1 deleted run:" in out and f"{gone.id[:8]}  gone  (Default)  1 blob, 23 B" in out
    assert "would delete 1 artifact blob, 23 B (23 bytes)" in out
    assert "left alone: 1 blob no run refers to yet, newer than 1h" in out and "dry run: nothing deleted" in out
    assert blobs(store) == before and mlops.get_run(gone.id).lifecycle == "deleted"

    assert main(["gc", "--yes", "--older-than", "0"]) == 0
    out = capsys.readouterr().out
    assert "purged 1 deleted run:" in out and f"collected 1 blob no run refers to:\n  {orphan[:12]}" in out
    assert f"deleted 2 artifact blobs, {23 + orphan_size} B ({23 + orphan_size} bytes)" in out
    assert blobs(store) == before - {only_gone, orphan}
    assert store.artifacts.read_bytes(shared) == b"in both runs"
    assert store.artifacts.read_bytes(only_stays) == b"only in the run that stays"
    with pytest.raises(RunNotFoundError):
        mlops.get_run(gone.id)
    assert rows_of(store, gone.id) == 0 and rows_of(store, stays.id) > 0
    assert mlops.get_run(stays.id).artifacts[0]["sha256"] == shared

    assert main(["gc", "--yes", "--older-than", "0"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to collect"


def test_gc_keeps_what_the_registry_and_live_steps_need(backend, capsys):
    run_id, model, X = train_run()
    mlops.approve(run_id, by="ana")
    mlops.export(run_id, name="kept", by="ana")
    approved_only, _, _ = train_run(accuracy=0.9)
    mlops.approve(approved_only, by="ana")  # an approval row refers to the run: purged with it
    mlops.delete_run(approved_only)
    store = open_store()
    with store.writing() as conn:  # deleted behind the registry's back, as a store from before the refusal could be
        lifecycle_states.set_runs(conn, [run_id], "deleted")
    with mlops.start_run("pipeline", experiment="old") as parent:
        pass
    with mlops.start_run("step", experiment="old", parent=parent) as step:
        pass
    mlops.delete_run(parent.id)
    mlops.restore_run(step.id)  # a step brought back on its own keeps its parent's row
    with mlops.start_run("doomed", experiment="doomed") as doomed:
        pass
    mlops.delete_experiment("doomed")
    model_blobs = {a["sha256"] for a in mlops.get_run(run_id).artifacts}

    assert main(["gc", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"kept deleted run {run_id[:8]}: model kept version 1 was made from it" in out
    assert f"kept deleted run {parent.id[:8]}: run {step.id[:8]}, which stays, is one of its steps" in out
    assert "purged 2 deleted runs:" in out and "purged deleted experiment 'doomed'" in out
    assert model_blobs <= blobs(store)
    assert np.array_equal(mlops.load_model("kept/1").predict(X), model.predict(X))
    assert mlops.get_run(parent.id).lifecycle == "deleted" and mlops.get_run(step.id).lifecycle == "active"
    for purged in (approved_only, doomed.id):
        assert rows_of(store, purged) == 0
    assert mlops.list_experiments(all_lifecycles=True)["name"].tolist() == ["Default", "old"]
    with mlops.start_run("fresh", experiment="doomed"):  # the name is free again
        pass
    runs_entry, = audit_log(subject="runs", action="gc")
    assert set(runs_entry["details"]["runs"]) == {approved_only, doomed.id}
    assert runs_entry["details"]["experiments"] == ["doomed"]
    assert audit_log(subject="artifacts", action="gc")[0]["details"]["blobs"] >= 1


def test_a_run_restored_after_the_plan_keeps_its_rows_and_blobs(backend):
    with mlops.start_run("back") as run:
        sha = mlops.log_artifact("restored in time", name="r.txt")
    mlops.delete_run(run.id)
    store = open_store()
    planned = garbage.find(store, registry_runs(store), grace_seconds=0)
    assert [r["run_id"] for r in planned.runs] == [run.id] and [b.sha256 for b in planned.blobs] == [sha]
    mlops.restore_run(run.id)  # between the dry run and the collection
    done = garbage.collect(store, planned, registry_runs(store))
    assert done.runs == [] and done.blobs == []
    assert mlops.get_run(run.id).artifacts[0]["sha256"] == sha and sha in blobs(store)
