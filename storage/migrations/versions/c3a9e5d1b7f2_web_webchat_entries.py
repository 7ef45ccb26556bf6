"""web chat: the conversation kept across reloads (branch web)

Revision ID: c3a9e5d1b7f2
Revises: b7e2c91d4a10
Create Date: 2026-11-26 14:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = 'c3a9e5d1b7f2'
down_revision: str | None = 'b7e2c91d4a10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webchat_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'client_id', name='uq_webchat_entries_client')
    )
    with op.batch_alter_table('webchat_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webchat_entries_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webchat_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webchat_entries_user_id'))
    op.drop_table('webchat_entries')
