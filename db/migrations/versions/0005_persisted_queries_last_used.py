"""persisted queries: when each was last used, so the least recently used go first

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # SQLite cannot add a NOT NULL column without a constant default: add it nullable,
    # fill it from created_at, then make it NOT NULL (a table copy in batch mode).
    with op.batch_alter_table('persisted_queries') as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE persisted_queries SET last_used_at = created_at")
    with op.batch_alter_table('persisted_queries') as batch_op:
        batch_op.alter_column('last_used_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.create_index(op.f('ix_persisted_queries_last_used_at'), ['last_used_at'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('persisted_queries') as batch_op:
        batch_op.drop_index(op.f('ix_persisted_queries_last_used_at'))
        batch_op.drop_column('last_used_at')
