"""``mlops.widgets.approve(run)``: an approval form for one run, next to the work it judges.

The form calls the same ``approve``/``reject`` as the CLI and the server, so gates and the
audit log apply; a refusal is shown in the form instead of raised into the notebook.
"""
from __future__ import annotations

import html

from ..exceptions import MlopsError


class ApprovalForm:
    def __init__(self, run):
        import ipywidgets as w

        from ..api import get_run
        from ..registry import approval
        from ..tracking import capture

        self.run_id = run if isinstance(run, str) else run.id
        record = get_run(self.run_id)
        self.run_id = record.id
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(record.metrics.items()) if isinstance(v, float))
        self.summary = w.HTML(f"<b>run {record.id[:8]}</b> {html.escape(record.name or '')} · {record.status}"
                              f"<br>{html.escape(metrics or 'no metrics')}")
        self.by = w.Text(value=capture.current_user() or "", description="by")
        self.reason = w.Textarea(placeholder="why this run may (or may not) become a model", description="reason")
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.message = w.HTML()
        self.approve_button.on_click(lambda _: self._decide(approval.approve))
        self.reject_button.on_click(lambda _: self._decide(approval.reject))
        self.widget = w.VBox([self.summary, self.by, self.reason,
                              w.HBox([self.approve_button, self.reject_button]), self.message])
        current = approval.get_approval(self.run_id)
        if current:
            self._show(current)

    def _decide(self, action) -> None:
        try:
            decision = action(self.run_id, by=self.by.value or None, reason=self.reason.value)
        except MlopsError as exc:
            self.message.value = f"<span style='color:#b00020'>refused: {html.escape(str(exc))}</span>"
            return
        self._show(decision)

    def _show(self, decision: dict) -> None:
        colour = "#1b5e20" if decision["decision"] == "approved" else "#b00020"
        self.message.value = (f"<span style='color:{colour}'>{decision['decision']} by "
                              f"{html.escape(decision['actor'])}</span>: {html.escape(decision['reason'])}")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def approve(run) -> ApprovalForm:
    return ApprovalForm(run)
