"""Production mode: fenced leases for the loops, and (on PostgreSQL only) the shared signal
store's per-minute aggregates (`oasis.store.postgres_tables`).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = sa.inspect(op.get_bind())
    # Tables an OASIS of this version made on start before the database was migrated.
    if not present.has_table("oasis_leases"):
        _leases()
    if op.get_bind().dialect.name != "postgresql" or present.has_table("signal_services"):
        return  # the embedded signal store is DuckDB; its aggregates need PostgreSQL
    _signal_aggregates()


def _leases() -> None:
    op.create_table(
        "oasis_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("progress", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def _signal_aggregates() -> None:
    op.create_table(
        "signal_call_edges",
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("callee", sa.Text(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "caller", "callee"),
    )
    op.create_table(
        "signal_deployments",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Text(), nullable=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("previous_version", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_signal_deployments_ts"), "signal_deployments", ["ts"], unique=False)
    op.create_table(
        "signal_ids",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_signal_ids_ts"), "signal_ids", ["ts"], unique=False)
    op.create_table(
        "signal_log_minutes",
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "service", "level", "error_type"),
    )
    op.create_table(
        "signal_log_templates",
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.Text(), nullable=True),
        sa.Column("span_id", sa.Text(), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=True),
        sa.Column("record_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("minute", "service", "level", "fingerprint"),
    )
    op.create_table(
        "signal_metric_minutes",
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("lo", sa.Float(), nullable=False),
        sa.Column("hi", sa.Float(), nullable=False),
        sa.Column("samples", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.PrimaryKeyConstraint("minute", "service", "name"),
    )
    op.create_table(
        "signal_services",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("logs", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.BigInteger(), nullable=False),
        sa.Column("deployments", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("last_signal", sa.DateTime(), nullable=True),
        sa.Column("current_version", sa.Text(), nullable=True),
        sa.Column("version_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("service"),
    )


def downgrade() -> None:
    for table in (
        "signal_services",
        "signal_ids",
        "signal_call_edges",
        "signal_deployments",
        "signal_log_templates",
        "signal_metric_minutes",
        "signal_log_minutes",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.drop_table("oasis_leases")
