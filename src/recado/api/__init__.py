"""The HTTP API (`/v1`) and the health endpoints; routers per resource."""
