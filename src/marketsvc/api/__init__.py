"""HTTP layer: routes, request/response schemas, dependencies and the error table."""
