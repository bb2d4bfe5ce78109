"""A local Slack Web API for tests and the local stack: a test instrument, never imported by what
a production install runs (the client, the actions, the account checks).

    python -m pivot.providers.serve_sandboxes --slack 127.0.0.1:8103

Modules: `app` (channels, messages, the methods and the pipeline), `args` (reading Web API arguments,
Slack's `ok: false`), `scopes` (which OAuth scope each method needs, and how Slack says a token lacks
one), `workspace` (the members who click and receive ephemeral messages), `interactivity` (the app's
interactivity URL and signing secret, a click delivered as Slack delivers it, response_url, ephemeral
messages) and `payloads` (the signed `block_actions` request itself).
"""

from pivot.providers.slack.sandbox.app import SEED_CHANNELS, SlackSandbox, create_app

__all__ = ["SEED_CHANNELS", "SlackSandbox", "create_app"]
