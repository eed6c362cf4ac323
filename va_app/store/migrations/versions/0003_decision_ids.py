"""Decision ids: each card-grid decision keeps the id its browser gave it, unique.

A decision the browser sends again (after a reload, a server restart or a lost confirmation)
is then stored once, across sessions and servers. Older rows and imports have none (NULL; a
unique index allows any number of NULLs on SQLite and PostgreSQL).

Revision ID: 0003_decision_ids
Revises: 0002_video_cut_lists
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_decision_ids"
down_revision = "0002_video_cut_lists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: both backends add it in place, no table copy.
    op.add_column("annotations", sa.Column("decision_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_annotations_decision_id"), "annotations", ["decision_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_annotations_decision_id"), table_name="annotations")
    op.drop_column("annotations", "decision_id")  # in place (SQLite ≥ 3.35): no table copy
