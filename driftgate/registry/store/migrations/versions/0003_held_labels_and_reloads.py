"""Labels held for rows not scored yet, and reloads an operator asked for (issue 14).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("rid", sa.String(length=400), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("labelled_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_held_labels_model_hash", "held_labels", ["model", "hash"], unique=False)
    op.create_table(
        "version_reloads",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reloads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model", "version"),
    )


def downgrade() -> None:
    op.drop_table("version_reloads")
    op.drop_index("ix_held_labels_model_hash", table_name="held_labels")
    op.drop_table("held_labels")
