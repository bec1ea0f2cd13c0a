"""Runs and experiments deleted, archived and restored: API, CLI, filter, listings, registry, audit, migration."""
from __future__ import annotations

import pytest
from sqlalchemy import text

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.exceptions import FilterSyntaxError, InvalidInputError, RegistryError
from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.tracking import lifecycle
from jupyter_mlops.tracking import store as store_module
from jupyter_mlops.tracking.store import open_store

from .test_registry import train_run


def logged(name: str, experiment: str = "Default", value: float = 1.0, parent=None) -> str:
    with mlops.start_run(name, experiment=experiment, parent=parent) as run:
        mlops.log_metric("score", value)
    return run.id


def names(df) -> list[str]:
    return sorted(df["name"])


def test_deleted_and_archived_runs_leave_listings_until_restored(backend):
    a, b, c = logged("a", value=1), logged("b", value=2), logged("c", value=3)
    assert mlops.delete_run(a) == [a]
    assert mlops.archive_run(b[:8]) == [b]  # a prefix works as everywhere

    assert names(mlops.search_runs()) == ["c"]
    assert names(mlops.search_runs(filter="metrics.score > 0")) == ["c"]  # left out under any other filter too
    assert names(mlops.search_runs(filter="lifecycle = 'archived'")) == ["b"]
    assert names(mlops.search_runs(filter="lifecycle = 'DELETED'")) == ["a"]
    assert names(mlops.search_runs(filter="lifecycle IN ('active', 'archived') and metrics.score >= 2")) == ["b", "c"]
    listed = mlops.search_runs(filter="lifecycle != 'active'").set_index("name")["lifecycle"].to_dict()
    assert listed == {"a": "deleted", "b": "archived"}
    assert mlops.get_run(a).lifecycle == "deleted" and mlops.get_run(c).lifecycle == "active"
    assert mlops.list_experiments()["runs"].tolist() == [1]  # the count is of the runs a listing shows

    assert mlops.restore_run(a) == [a] and mlops.restore_run(b) == [b]
    assert mlops.restore_run(b) == []  # nothing left to restore
    assert names(mlops.search_runs()) == ["a", "b", "c"]
    assert mlops.get_run(a).metrics == {"score": 1.0}  # soft: the record is whole again

    entries = audit_log(subject=a)
    assert [(e["action"], e["details"]["previous"]) for e in entries] == [("restore", "deleted"), ("delete", "active")]
    assert entries[0]["actor"]


def test_a_bad_lifecycle_in_a_filter_is_named():
    with pytest.raises(FilterSyntaxError, match=r"lifecycle is one of 'active', 'archived', 'deleted', not 'archivd'"):
        mlops.search_runs(filter="lifecycle = 'archivd'")


def test_steps_and_nested_runs_go_with_their_run(backend):
    parent = logged("pipeline")
    step = logged("step", parent=parent)
    nested = logged("inner", parent=step)
    other = logged("other")
    deleted = mlops.delete_run(parent)
    assert deleted == [parent, step, nested]
    assert names(mlops.search_runs()) == ["other"]
    assert audit_log(subject=nested)[0]["details"]["along_with"] == [parent]

    mlops.restore_run(step)  # a step restored on its own
    assert names(mlops.search_runs()) == ["inner", "other", "step"]
    mlops.archive_run(parent)  # archiving leaves the deleted parent deleted
    assert mlops.get_run(parent).lifecycle == "deleted" and mlops.get_run(step).lifecycle == "archived"
    assert mlops.restore_run(parent) == [parent, step, nested]
    assert names(mlops.search_runs()) == ["inner", "other", "pipeline", "step"]
    assert other


def test_the_registry_keeps_the_run_a_version_was_made_from(backend):
    run_id, _, _ = train_run()
    mlops.approve(run_id, by="ana")
    mlops.export(run_id, name="keeper", by="ana")
    with mlops.start_run("pipeline") as pipeline:
        pass
    with mlops.start_run("noise"):
        pass
    # The versioned run is a step of a pipeline now: deleting the pipeline is refused as a whole.
    store = open_store()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET parent_uuid = :p WHERE uuid = :r"), {"p": pipeline.id, "r": run_id})

    for attempt in (lambda: mlops.delete_run(run_id), lambda: mlops.delete_run(pipeline.id)):
        with pytest.raises(RegistryError, match=rf"model keeper version 1 was made from run {run_id[:8]}"):
            attempt()
    with pytest.raises(RegistryError, match=r"experiment 'Default' cannot be deleted: model keeper version 1"):
        mlops.delete_experiment("Default")
    assert {mlops.get_run(r).lifecycle for r in (run_id, pipeline.id)} == {"active"}  # nothing changed
    assert not audit_log(action="delete")

    assert mlops.archive_run(run_id) == [run_id]  # archiving keeps the record: allowed
    assert mlops.load_model("keeper/1") is not None


def test_a_deleted_run_is_neither_approved_nor_exported_until_restored(backend):
    from jupyter_mlops.exceptions import ApprovalRefusedError

    run_id, _, _ = train_run()
    mlops.delete_run(run_id)
    with pytest.raises(ApprovalRefusedError, match=rf"run {run_id} is deleted; restore it first: "
                                                   rf"jupyter mlops runs restore {run_id[:8]}"):
        mlops.approve(run_id, by="ana")
    mlops.restore_run(run_id)
    mlops.approve(run_id, by="ana")
    mlops.delete_run(run_id)  # approved, then deleted: export waits for the restore too
    with pytest.raises(ApprovalRefusedError, match=r"is deleted; restore it first"):
        mlops.export(run_id, name="gone", by="ana")
    mlops.restore_run(run_id)
    assert mlops.export(run_id, name="gone", by="ana")["version"] == 1


def test_an_experiment_and_its_runs(backend):
    kept = logged("kept", experiment="trials")
    alone = logged("alone", experiment="trials")
    logged("elsewhere", experiment="other")
    mlops.delete_run(alone)
    assert mlops.delete_experiment("trials") == 2

    assert names(mlops.search_runs()) == ["elsewhere"]
    assert mlops.search_runs(experiment="trials").empty
    assert mlops.list_experiments()["name"].tolist() == ["other"]
    everything = mlops.list_experiments(all_lifecycles=True).set_index("name")["lifecycle"].to_dict()
    assert everything == {"trials": "deleted", "other": "active"}
    assert names(mlops.search_runs(filter="lifecycle = 'deleted'")) == ["alone", "kept"]
    assert mlops.get_run(kept).lifecycle == "deleted"  # through its experiment
    with pytest.raises(InvalidInputError, match=r"experiment 'trials' is deleted and takes no new runs: restore it"):
        mlops.start_run("late", experiment="trials")
    with pytest.raises(InvalidInputError, match=r"run \w{8} is in experiment 'trials', which is deleted"):
        mlops.restore_run(kept)

    assert mlops.restore_experiment("trials") == 2
    assert names(mlops.search_runs(experiment="trials")) == ["kept"]  # the run deleted on its own stays deleted
    assert mlops.get_run(alone).lifecycle == "deleted"
    mlops.archive_experiment("trials")
    assert names(mlops.search_runs(filter="lifecycle = 'archived'")) == ["kept"]
    assert [e["action"] for e in audit_log(subject="experiment:trials")] == ["archive", "restore", "delete"]
    with pytest.raises(InvalidInputError, match=r"no experiment 'nope' \(experiments: other, trials\)"):
        mlops.delete_experiment("nope")


def test_cli_actions_beside_the_listing(backend, capsys):
    a, b = logged("first"), logged("second")
    assert main(["runs", "archive", a[:8], b]) == 0
    assert f"archived 2 runs: {a[:8]}, {b[:8]}" in capsys.readouterr().out
    assert main(["runs"]) == 0
    assert "(none)" in capsys.readouterr().out
    assert main(["runs", "--filter", "lifecycle = 'archived'", "--format", "csv"]) == 0
    listed = capsys.readouterr().out
    assert a in listed and b in listed and listed.count("archived") == 2

    assert main(["runs", "restore", a]) == 0
    assert main(["runs", "delete", b]) == 0
    out = capsys.readouterr().out
    assert f"restored 1 run: {a[:8]}" in out and f"deleted 1 run: {b[:8]}" in out and "gc --yes" in out
    assert main(["runs", "--format", "csv"]) == 0
    listed = capsys.readouterr().out
    assert a in listed and b not in listed
    assert main(["runs", "delete", b]) == 0
    assert "nothing to do: the run is deleted already" in capsys.readouterr().out

    assert main(["runs", "--filter", "lifecycle != 'active'"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:5] == ["run_id", "name", "experiment", "status", "lifecycle"]  # shown when it says something

    assert main(["experiments", "archive", "Default"]) == 0
    assert "archived experiment 'Default' (2 runs)" in capsys.readouterr().out
    assert main(["experiments", "--format", "csv"]) == 0
    assert "Default" not in capsys.readouterr().out
    assert main(["experiments", "--all", "--format", "csv"]) == 0
    listed = capsys.readouterr().out
    assert "Default" in listed and "archived" in listed and listed.splitlines()[0].endswith("lifecycle")
    assert main(["experiments", "restore", "Default"]) == 0
    capsys.readouterr()

    for argv, message, code in [
        (["runs", "delete", "0123456789abcdef"], "no run '0123456789abcdef'", 2),
        (["runs", "archive", "abc"], "too short", 2),
        (["runs", "--filter", "status = 'FINISHED'", "delete", a], "runs delete takes run ids, not --filter", 2),
        (["experiments", "delete", "nope"], "no experiment 'nope'", 2),
    ]:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_cli_refusal_names_the_version(backend, capsys):
    run_id, _, _ = train_run()
    mlops.approve(run_id, by="ana")
    mlops.export(run_id, name="held", by="ana")
    assert main(["runs", "delete", run_id[:8]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jupyter mlops runs: error: run cannot be deleted: model held version 1 was made from run")
    assert err.count("\n") == 1


def test_the_migration_adds_the_column_to_an_existing_store(backend):
    """A store made before lifecycles (schema 5): its runs read as active once it is opened again."""
    old = logged("old")
    store = open_store()
    with store.engine.begin() as conn:
        for table in ("runs", "experiments"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN lifecycle"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 6"))
    lifecycle.shutdown()
    store_module.forget_open_stores()
    reopened = open_store()
    assert reopened.schema_version() >= 6
    assert mlops.get_run(old).lifecycle == "active"
    assert names(mlops.search_runs()) == ["old"]
    mlops.archive_run(old)
    assert mlops.search_runs().empty
