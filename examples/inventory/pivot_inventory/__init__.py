"""pivot-inventory: a warehouse API joins Pivot's catalog (`inventory.reserve_stock`).

A complete, installable action package — the one the README's "Add your own API" walks through:
`api.py` is the service (yours would already exist), `actions.py` the action written with
`pivot.kit`, and `pyproject.toml` registers it in the `pivot.actions` entry-point group.
"""
