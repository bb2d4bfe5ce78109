"""Where Pivot's approvals in Slack are configured: names of environment variables, and what they hold.

- `PIVOT_SLACK_APPROVALS_CHANNEL` (the service): the channel a gate naming `slack` is posted to;
- `SLACK_SIGNING_SECRET` (the approval page's server): the Slack app's signing secret, which
  verifies every click (Basic Information → App Credentials in the app's settings);
- `PIVOT_SLACK_APPROVERS` (the approval page's server): `approver:SlackUserId,…`, who each approver is
  in Slack; a click by anyone else decides nothing.

The app's Interactivity Request URL is `<approval page>/slack/interactivity` (Interactivity &
Shortcuts in the app's settings); no Web API reads it back, so `pivot doctor` can only say so.
"""

from pivot.compensations.approvals import parse_approver_tokens

CHANNEL_ENV = "PIVOT_SLACK_APPROVALS_CHANNEL"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"
SLACK_APPROVERS_ENV = "PIVOT_SLACK_APPROVERS"
INTERACTIVITY_PATH = "/slack/interactivity"
EVERY_ENV = (CHANNEL_ENV, SIGNING_SECRET_ENV, SLACK_APPROVERS_ENV)


def slack_users(spec: str) -> dict[str, str]:
    """"finance:U07FINLEAD,ops:U07OPSLEAD" → {"finance": "U07FINLEAD", …}: the `PIVOT_APPROVERS` format."""
    return parse_approver_tokens(spec)
