"""Indexes the summary report reads instead of the ticket table.

Without them `bench/reports.py` showed a full scan of ``ticket`` for every figure over the tickets closed in a
range (SQLite "SCAN ticket", PostgreSQL "Seq Scan"), and on SQLite that scan follows each row's overflow pages
past the workflow state to reach the SLA columns: 1.2 s for a one-year report over 100,000 tickets. Each index
holds every column its queries read (a covering index on both databases), so a report reads only index pages.

Revision ID: 0014
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The tickets closed in a range with what the outcomes, times and SLA figures read of them.
CLOSED = ("closed_at", "unit_code", "priority", "escalations", "persists", "reminders", "follow_ups",
          "first_response_business_s", "resolution_business_s", "first_response_breached", "resolution_breached")
# The tickets opened in a range, and those still open at an instant.
OPENED = ("opened_at", "unit_code", "priority", "closed_at")


def upgrade() -> None:
    op.create_index("ix_ticket_report_closed", "ticket", list(CLOSED))
    op.create_index("ix_ticket_report_opened", "ticket", list(OPENED))


def downgrade() -> None:
    op.drop_index("ix_ticket_report_opened", "ticket")
    op.drop_index("ix_ticket_report_closed", "ticket")
