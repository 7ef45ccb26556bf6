"""render jobs: why the render doubted a cutout, so the seller's tip fits it (branch render2)

Revision ID: e5f1a7c3d9b2
Revises: d4b8f1a2c6e3
Create Date: 2026-11-26 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'e5f1a7c3d9b2'
down_revision: str | None = 'd4b8f1a2c6e3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('render_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hard_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('render_jobs', schema=None) as batch_op:
        batch_op.drop_column('hard_reason')
