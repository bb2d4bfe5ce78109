"""PostgreSQL: a team's own database as a saga's provider, and the strongest one.

The write, the step's key (a row in Pivot's own `pivot.steps` table, with the row's before- and
after-image) and an optional transactional-outbox event (`pivot.outbox`) commit in ONE transaction:
a write either happened with its key or not at all, so an ambiguous answer (the connection lost
after COMMIT) is resolved by a select by key, never by writing again. The undo restores the
before-image only while the row still holds what the step wrote, in one transaction with its own
key row and outbox event.

Tables a saga may touch, and their key columns, are configuration (`PIVOT_POSTGRES_TABLES`), and
every identifier is checked against it; SQL is composed with `psycopg.sql` identifiers and
parameters only. This package never imports Restate.
"""
