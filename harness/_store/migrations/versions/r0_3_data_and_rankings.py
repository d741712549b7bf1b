"""release 0.3: seconds each trial (and epoch) waited for data, and its share of training

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
    with op.batch_alter_table('harness_epochs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_wait_s', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('harness_epochs', schema=None) as batch_op:
        batch_op.drop_column('data_wait_s')
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.drop_column('data_wait_share')
        batch_op.drop_column('data_wait_s')
