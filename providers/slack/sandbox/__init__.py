"""A local Slack Web API for tests and the local stack: a test instrument, never imported by what
a production install runs (the client, the actions, the account checks).

    python -m pivot.providers.serve_sandboxes --slack 127.0.0.1:8103

Modules: `app` (channels, messages, the methods and the pipeline), `scopes` (which OAuth scope
each method needs, and how Slack says a token lacks one).
"""

from pivot.providers.slack.sandbox.app import SEED_CHANNELS, SlackSandbox, create_app

__all__ = ["SEED_CHANNELS", "SlackSandbox", "create_app"]
