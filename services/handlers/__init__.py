"""Restate handlers: the plan workflow, approvals, operator repair (what the service endpoint serves)."""
