"""ids never reused: SQLite tables with AUTOINCREMENT

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Without AUTOINCREMENT SQLite gives the next row max(id) + 1, so deleting the newest
place and creating another hands out the deleted place's id again: a client's
normalized cache, another subgraph keyed on City.id, or anyone who kept the id would
take one place for the other. Each table with an integer id is recreated with
AUTOINCREMENT (batch mode: copy, drop, rename; the caller turns foreign keys off
around it, as SQLite's documented procedure says, so dropping a parent table
cascades nothing). Ids deleted before this migration beyond the highest id left are
known from the change log, and the sequence starts above them too. PostgreSQL's
sequences never go back: nothing to do there.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before the tables that refer to them.
TABLES = [
    'countries', 'sectors', 'sources', 'places', 'organizations', 'partnerships',
    'place_aliases', 'milestones', 'api_tokens', 'change_log', 'store_state', 'webhooks',
    'webhook_deliveries',
]
# The change log names deleted rows: (entity_type, table).
LOGGED = {'city': 'places', 'partnership': 'partnerships', 'milestone': 'milestones'}


def upgrade() -> None:
    """Upgrade schema."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    for name in TABLES:
        with op.batch_alter_table(name, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}):
            pass
    for entity_type, table in LOGGED.items():
        bind.execute(sa.text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT :t, 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :t)"), {'t': table})
        bind.execute(sa.text(
            "UPDATE sqlite_sequence SET seq = max(seq, coalesce("
            "(SELECT max(entity_id) FROM change_log WHERE entity_type = :e), 0)) "
            "WHERE name = :t"), {'t': table, 'e': entity_type})


def downgrade() -> None:
    """Downgrade schema."""
    # AUTOINCREMENT is harmless under 0002's models: the tables stay as they are.
