"""release 0.3: seconds each trial (and epoch) waited for data and its share of training;
each epoch's validation seconds (the clock of `harness replay`); measured speed reused across
trials (harness_speed) and where a trial's figures came from; each trial's
configuration key and, for a repeat, the search trial it repeats (configuration rankings)

Revision ID: 0.3
Revises: 0.2
Release: 0.3

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0.3'
down_revision: Union[str, Sequence[str], None] = '0.2'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_wait_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('data_wait_share', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('speed_from_trial', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('config_key', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('repeat_of', sa.Integer(), nullable=True))
        batch_op.create_index('ix_harness_trials_config_key', ['config_key'], unique=False)
    op.create_table(
        'harness_speed',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('architecture', sa.String(length=200), nullable=False),
        sa.Column('hardware', sa.String(length=300), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('trial_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'))
    with op.batch_alter_table('harness_epochs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_wait_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('val_seconds', sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_table('harness_speed')
    with op.batch_alter_table('harness_epochs', schema=None) as batch_op:
        batch_op.drop_column('val_seconds')
        batch_op.drop_column('data_wait_s')
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.drop_index('ix_harness_trials_config_key')
        batch_op.drop_column('repeat_of')
        batch_op.drop_column('config_key')
        batch_op.drop_column('speed_from_trial')
        batch_op.drop_column('data_wait_share')
        batch_op.drop_column('data_wait_s')
