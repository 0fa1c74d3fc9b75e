"""predictions (track record), artist status, breakouts, track-record cache, run time zone

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:09:37.644353
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "track_record_cache",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_track_record_cache")),
    )
    op.create_table(
        "artist_status",
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("plays_month", sa.Integer(), nullable=False),
        sa.Column("month_total", sa.Integer(), nullable=False),
        sa.Column("plays_needed", sa.Integer(), nullable=False),
        sa.Column("core_now", sa.Boolean(), nullable=False),
        sa.Column("core_prev1", sa.Boolean(), nullable=False),
        sa.Column("core_prev2", sa.Boolean(), nullable=False),
        sa.Column("plays_last_month", sa.Integer(), nullable=False),
        sa.Column("plays_30d", sa.Integer(), nullable=False),
        sa.Column("months_since_discovery", sa.Integer(), nullable=False),
        sa.Column("first_seen_ts", sa.Integer(), nullable=False),
        sa.Column("last_played_ts", sa.Integer(), nullable=False),
        sa.Column("eligible_month", sa.Boolean(), nullable=False),
        sa.Column("eligible_trailing", sa.Boolean(), nullable=False),
        sa.Column("first_core_month", sa.String(), nullable=True),
        sa.Column("last_core_month", sa.String(), nullable=True),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_artist_status_artist_id_artists")
        ),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_artist_status")),
    )
    op.create_table(
        "breakouts",
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_breakouts_artist_id_artists")
        ),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_breakouts")),
    )
    with op.batch_alter_table("breakouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breakouts_detected_at"), ["detected_at"], unique=False)

    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("artist_name", sa.String(), nullable=False),
        sa.Column("window", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("above_threshold", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("model_name", sa.String(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("core_month", sa.String(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_predictions_artist_id_artists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint(
            "window", "artist_id", "month", name=op.f("uq_predictions_window_artist_id_month")
        ),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_artist_id"), ["artist_id"], unique=False)
        batch_op.create_index("ix_predictions_outcome_month", ["outcome", "month"], unique=False)

    with op.batch_alter_table("model_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sa.String(), server_default="UTC", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("model_runs", schema=None) as batch_op:
        batch_op.drop_column("timezone")

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_outcome_month")
        batch_op.drop_index(batch_op.f("ix_predictions_artist_id"))

    op.drop_table("predictions")
    with op.batch_alter_table("breakouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_breakouts_detected_at"))

    op.drop_table("breakouts")
    op.drop_table("artist_status")
    op.drop_table("track_record_cache")
