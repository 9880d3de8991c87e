"""sources: the day an update found a source no longer states its fact

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('sources') as batch_op:
        batch_op.add_column(sa.Column('withdrawn_on', sa.String(length=10), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('sources') as batch_op:
        batch_op.drop_column('withdrawn_on')
