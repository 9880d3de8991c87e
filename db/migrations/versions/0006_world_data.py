"""world data: place regions, source licences, milestone participants, organization aliases

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sa.String(length=200), nullable=True))
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('license', sa.String(length=100), nullable=True))
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aliases', sa.JSON(), nullable=True))
    op.create_table('milestone_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=300), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestones.id'], name=op.f('fk_milestone_participants_milestone_id_milestones'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_milestone_participants_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone_participants')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('milestone_participants', schema=None) as batch_op:
        batch_op.create_index('ix_milestone_participants_milestone', ['milestone_id', 'position'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('milestone_participants', schema=None) as batch_op:
        batch_op.drop_index('ix_milestone_participants_milestone')
    op.drop_table('milestone_participants')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('aliases')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('license')
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.drop_column('region')
