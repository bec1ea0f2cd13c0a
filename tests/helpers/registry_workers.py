"""Functions the registry tests run in spawned processes; kept light so each child starts fast."""
from __future__ import annotations


def export_in_process(args):
    uri, run_id = args
    from jupyter_mlops import config
    from jupyter_mlops.registry import package

    config.set_tracking_uri(uri)
    return package.export(run_id, name="raced")["version"]


def approve_in_process(args):
    uri, run_id, who = args
    from jupyter_mlops import config
    from jupyter_mlops.registry import approval

    config.set_tracking_uri(uri)
    return approval.approve(run_id, by=who, reason="racing")["actor"]
