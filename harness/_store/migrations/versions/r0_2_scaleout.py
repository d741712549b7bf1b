"""scale-out: trial heartbeats, retried failures, run sessions and claimed trials per study

Revision ID: 0.2
Revises: 0.1
Release: 0.2

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0.2'
down_revision: str | Sequence[str] | None = '0.1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('harness_studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runs', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('claimed', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retried', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('heartbeat_at', sa.Float(), nullable=True))
        batch_op.create_index('ix_harness_trials_study_status', ['study_id', 'status'],
                              unique=False)
    # Every trial of a 0.1 study counts in its budget (0.1 never re-ran failures).
    op.execute("UPDATE harness_studies SET claimed = (SELECT count(*) FROM harness_trials "
               "WHERE harness_trials.study_id = harness_studies.id)")


def downgrade() -> None:
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.drop_index('ix_harness_trials_study_status')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('retried')
    with op.batch_alter_table('harness_studies', schema=None) as batch_op:
        batch_op.drop_column('claimed')
        batch_op.drop_column('runs')
