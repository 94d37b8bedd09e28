"""Units' service levels in business time and each ticket's SLA record.

Revision ID: 0011
"""
import sqlalchemy as sa

from alembic import op
from engine.store.models import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COUNTERS = ("sla_paused_seconds", "escalations", "persists", "reminders", "follow_ups")
_FLAGS = ("first_response_breached", "resolution_breached")


def _ticket_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("resolution_due", UtcDateTime(), nullable=True),
        sa.Column("sla_state", sa.String(10), nullable=False, server_default="on_track"),
        sa.Column("sla_paused_since", UtcDateTime(), nullable=True),
        sa.Column("sla_next_check_at", UtcDateTime(), nullable=True),
        sa.Column("first_response_business_s", sa.Integer(), nullable=True),
        sa.Column("resolution_business_s", sa.Integer(), nullable=True),
        *(sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false()) for flag in _FLAGS),
        *(sa.Column(counter, sa.Integer(), nullable=False, server_default="0") for counter in _COUNTERS),
    ]


def _unit_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("business_hours", sa.JSON(), nullable=True),
        sa.Column("holiday_country", sa.String(8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(16), nullable=True),
        sa.Column("holiday_calendar", sa.Text(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("reminder_every", sa.String(32), nullable=True),
        sa.Column("follow_up_after", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    ]


# The seeded unit's service levels (engine/store/units.py holds the same defaults for rows left null).
_GENERAL_HOURS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
_GENERAL_TARGETS = {
    "P1": {"first_response": "PT1H", "resolution": "PT4H", "24x7": True},
    "P2": {"first_response": "PT2H", "resolution": "P1D", "24x7": False},
    "P3": {"first_response": "PT4H", "resolution": "P3D", "24x7": False},
    "P4": {"first_response": "P1D", "resolution": "P5D", "24x7": False},
    "P5": {"first_response": "P2D", "resolution": "P10D", "24x7": False},
}


def upgrade() -> None:
    # Plain ADD COLUMN, no table rebuild on SQLite: every column has a default or may be null.
    for column in _ticket_columns():
        op.add_column("ticket", column)
    op.create_index("ix_ticket_sla_next_check_at", "ticket", ["sla_next_check_at"])
    for column in _unit_columns():
        op.add_column("unit", column)
    unit = sa.table("unit", sa.column("code", sa.String()), sa.column("business_hours", sa.JSON()),
                    sa.column("targets", sa.JSON()))
    op.execute(unit.update().where(unit.c.code == "general")
               .values(business_hours=_GENERAL_HOURS, targets=_GENERAL_TARGETS))


def downgrade() -> None:
    with op.batch_alter_table("unit") as unit:
        for column in _unit_columns():
            unit.drop_column(column.name)
    op.drop_index("ix_ticket_sla_next_check_at", "ticket")
    with op.batch_alter_table("ticket") as ticket:
        for column in _ticket_columns():
            ticket.drop_column(column.name)
