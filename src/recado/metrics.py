"""Prometheus metrics that operators scrape from /metrics."""

from prometheus_client import Counter, Histogram

MESSAGES_ACCEPTED = Counter(
    "recado_messages_accepted_total", "Messages accepted by the API", ["category"]
)
HTTP_LATENCY = Histogram(
    "recado_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONTACTS_IMPORTED = Counter(
    "recado_contacts_imported_rows_total", "CSV import rows by outcome", ["outcome"]
)
