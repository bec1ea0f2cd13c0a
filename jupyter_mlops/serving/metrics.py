"""Request counters and a latency histogram, exposed in Prometheus' text format at ``/metrics``.

Hand-written rather than prometheus_client: a dozen series, updated from the event loop thread
only (so no locks), with no dependency to install.
"""
from __future__ import annotations

from collections import Counter

# Seconds; fine at the low end, where an ONNX prediction lives.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PATHS = ("/predict", "/livez", "/readyz", "/metrics", "/v1/model")


class ServerMetrics:
    def __init__(self, model_ref: str, runtime: str):
        self.labels = f'model="{model_ref}",runtime="{runtime}"'
        self.requests: Counter = Counter()  # (path, status) -> count
        self.buckets = {path: [0] * len(BUCKETS) for path in PATHS}
        self.latency_sum = dict.fromkeys(PATHS, 0.0)
        self.latency_count = dict.fromkeys(PATHS, 0)
        self.errors: Counter = Counter()  # reason -> count
        self.rows = 0
        self.in_worker = 0  # /predict requests whose large body is being handled in a worker thread now
        self.logged = Counter()  # "written" / "dropped" prediction-log rows

    @staticmethod
    def path_label(path: str) -> str:
        """Known routes by name, everything else as "other", so a scan cannot add series without end."""
        return path if path in PATHS else "other"

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests[(path, status)] += 1
        if path in self.buckets:
            counts = self.buckets[path]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.latency_sum[path] += seconds
            self.latency_count[path] += 1

    def error(self, reason: str) -> None:
        self.errors[reason] += 1

    def render(self) -> str:
        out = ["# HELP mlops_requests_total HTTP requests by path and status code.",
               "# TYPE mlops_requests_total counter"]
        for (path, status), count in sorted(self.requests.items()):
            out.append(f'mlops_requests_total{{{self.labels},path="{path}",status="{status}"}} {count}')
        out += ["# HELP mlops_request_duration_seconds Time from request to response, by path.",
                "# TYPE mlops_request_duration_seconds histogram"]
        for path in PATHS:
            if not self.latency_count[path]:
                continue
            name, where = "mlops_request_duration_seconds", f'{self.labels},path="{path}"'
            for bound, count in zip(BUCKETS, self.buckets[path]):
                out.append(f'{name}_bucket{{{where},le="{bound:g}"}} {count}')
            out.append(f'{name}_bucket{{{where},le="+Inf"}} {self.latency_count[path]}')
            out.append(f"{name}_sum{{{where}}} {self.latency_sum[path]:.6f}")
            out.append(f"{name}_count{{{where}}} {self.latency_count[path]}")
        out += ["# HELP mlops_prediction_errors_total Refused or failed predictions by reason.",
                "# TYPE mlops_prediction_errors_total counter"]
        for reason, count in sorted(self.errors.items()):
            out.append(f'mlops_prediction_errors_total{{{self.labels},reason="{reason}"}} {count}')
        out += [("# HELP mlops_large_requests_in_progress Predict requests with a large body being parsed, "
                 "predicted and encoded in a worker thread right now."), "# TYPE mlops_large_requests_in_progress gauge",
                f"mlops_large_requests_in_progress{{{self.labels}}} {self.in_worker}",
                "# HELP mlops_predicted_rows_total Rows predicted.", "# TYPE mlops_predicted_rows_total counter",
                f"mlops_predicted_rows_total{{{self.labels}}} {self.rows}",
                "# HELP mlops_prediction_log_rows_total Sampled rows written to (or dropped from) prediction_log.",
                "# TYPE mlops_prediction_log_rows_total counter"]
        for outcome in ("written", "dropped"):
            out.append(f'mlops_prediction_log_rows_total{{{self.labels},outcome="{outcome}"}} {self.logged[outcome]}')
        return "\n".join(out) + "\n"
