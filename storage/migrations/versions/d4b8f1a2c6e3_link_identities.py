"""identity linking: one account across channels (issue 14)

Revision ID: d4b8f1a2c6e3
Revises: c3a9e5d1b7f2
Create Date: 2026-11-26 17:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = 'd4b8f1a2c6e3'
down_revision: str | None = 'c3a9e5d1b7f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('linked_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'external_id', name='uq_linked_identity')
    )
    with op.batch_alter_table('linked_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linked_identities_user_id'), ['user_id'], unique=False)
    op.create_table('link_codes',
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_codes_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_codes_user_id'))
    op.drop_table('link_codes')
    with op.batch_alter_table('linked_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linked_identities_user_id'))
    op.drop_table('linked_identities')
