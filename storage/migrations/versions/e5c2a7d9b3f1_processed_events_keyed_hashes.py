"""processed events: only keyed hashes of event ids are stored (issue 14, erasure that reaches everything)

Rows written before held the raw ids: a web visitor's id inside its message ids, a Messenger PSID inside a
referral's id. They could never match a new (hashed) key again, so they only kept those ids: removed.
Downgrading keeps the hashed rows (an older version simply does not recognise them as redeliveries).

Revision ID: e5c2a7d9b3f1
Revises: e5f1a7c3d9b2
Create Date: 2026-11-26 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e5c2a7d9b3f1'
down_revision: str | None = 'e5f1a7c3d9b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM processed_events WHERE event_id NOT LIKE 'h:%'"))


def downgrade() -> None:
    pass
