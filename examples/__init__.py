"""Scripted agents that use Pivot the way an LLM agent would (see README.md)."""
