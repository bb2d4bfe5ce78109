"""Slack Web API: the client and actions Pivot uses, and a local sandbox speaking its wire format."""
