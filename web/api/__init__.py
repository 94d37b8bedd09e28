"""API v1 (JSON, problem+json errors), the auditor endpoints, the OpenAPI document and health checks."""
