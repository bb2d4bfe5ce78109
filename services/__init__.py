"""Pivot's Restate handlers, the service app, the CLI and the local dev stack.

This is the only package that imports both the engine (compensations/) and the provider
modules (providers/): it wires them together.
"""
