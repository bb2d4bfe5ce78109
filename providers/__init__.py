"""Provider integrations: one package per third-party API (client, actions, sandbox)."""
