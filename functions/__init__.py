"""HTTP, queue and timer functions: one module per operation family, each a Blueprint.

Functions are thin: parse the request, call `shared`, serialise the answer. The cross-cutting
HTTP behaviour (key check, error envelope, request id, logs) lives in `functions.api`."""
