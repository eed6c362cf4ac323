"""Videos remember the editor's cut list their shots came from, or why one was refused.

``videos.cut_list``: the cut list (EDL, FCP 7 XML, .otio) whose events are the video's shots,
"" when they were detected; ``videos.cut_list_problem``: why a cut list that applies to the
video was not used ("" when none was refused). Existing videos had detected shots: both "".

Revision ID: 0002_video_cut_lists
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_video_cut_lists"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("cut_list", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("cut_list_problem", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite ≥ 3.35, PostgreSQL), not a batch rebuild: rebuilding
    # ``videos`` with the catalog's foreign keys on would cascade-delete every shot and
    # annotation.
    op.drop_column("videos", "cut_list_problem")
    op.drop_column("videos", "cut_list")
