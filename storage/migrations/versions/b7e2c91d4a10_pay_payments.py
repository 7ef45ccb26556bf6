"""pay: payments (credit packs bought with Telegram Stars or bKash)

Revision ID: b7e2c91d4a10
Revises: aa4988d0ff4e
Create Date: 2026-11-26 14:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = 'b7e2c91d4a10'
down_revision: str | None = 'aa4988d0ff4e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('pack', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('provider_payment_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('transaction_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('refund_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('credits_taken_back', sa.Integer(), nullable=False),
    sa.Column('credits_unrecovered', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name='ck_payments_amount'),
    sa.CheckConstraint('credits > 0', name='ck_payments_credits'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'provider_payment_id', name='uq_payments_provider_payment'),
    sa.UniqueConstraint('provider', 'transaction_id', name='uq_payments_transaction'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_user_id'))
        batch_op.drop_index(batch_op.f('ix_payments_state'))
        batch_op.drop_index(batch_op.f('ix_payments_created_at'))
    op.drop_table('payments')
