"""`pivot`: the agent's and the operator's command line."""

from pivot.services.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
