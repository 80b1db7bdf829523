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
MESSAGE_STATUS_CHANGES = Counter(
    "recado_message_status_changes_total",
    "Outbound message status changes, by the status reached (unknown: needs reconciliation)",
    ["status"],
)
DELIVERY_REPORTS_UNMATCHED = Counter(
    "recado_delivery_reports_unmatched_total",
    "Delivery reports whose carrier id matched no message after the lookup retries",
)
