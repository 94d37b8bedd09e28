"""Drop indexes no query needs; every index is another page written on most steps.

- ix_human_task_ticket_id: (ticket_id) is the prefix of ix_human_task_ticket_state (ticket_id, state);
- ix_history_event_at: (at) is the prefix of ix_history_event_at_ticket_seq (at, ticket_id, seq);
- ix_ticket_current_lanes: nothing filters on it (lane filters go through the worklist).

Revision ID: 0004
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_human_task_ticket_id", "human_task")
    op.drop_index("ix_history_event_at", "history_event")
    op.drop_index("ix_ticket_current_lanes", "ticket")


def downgrade() -> None:
    op.create_index("ix_ticket_current_lanes", "ticket", ["current_lanes"])
    op.create_index("ix_history_event_at", "history_event", ["at"])
    op.create_index("ix_human_task_ticket_id", "human_task", ["ticket_id"])
