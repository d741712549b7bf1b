"""release 0.4: kept models (harness_models), each trial's owning process and resumptions,
ONNX Runtime speed of kept models, [constraints] figures and feasibility, compile and warm-up
seconds of the meter, and what trackers need to find a study again

Revision ID: 0.4
Revises: 0.3
Release: 0.4

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0.4'
down_revision: Union[str, Sequence[str], None] = '0.3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('resumes', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('infer_onnx_samples_per_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('infer_onnx_batch_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('infer_onnx_ms_p50', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('infer_onnx_ms_p90', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('infer_onnx_ms_p99', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('constraints', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('feasible', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('compile_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('warmup_s', sa.Float(), nullable=True))
    with op.batch_alter_table('harness_studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking', sa.JSON(), nullable=True))
    op.create_table(
        'harness_models',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trial_id', sa.Integer(), nullable=False),
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('location', sa.String(length=1000), nullable=False),
        sa.Column('checksum', sa.String(length=64), nullable=True),
        sa.Column('bytes', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('pinned', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['study_id'], ['harness_studies.id']),
        sa.ForeignKeyConstraint(['trial_id'], ['harness_trials.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('trial_id'))
    op.create_index('ix_harness_models_study_id', 'harness_models', ['study_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_harness_models_study_id', table_name='harness_models')
    op.drop_table('harness_models')
    with op.batch_alter_table('harness_studies', schema=None) as batch_op:
        batch_op.drop_column('tracking')
    with op.batch_alter_table('harness_trials', schema=None) as batch_op:
        for column in ('warmup_s', 'compile_s', 'feasible', 'constraints',
                       'infer_onnx_ms_p99', 'infer_onnx_ms_p90', 'infer_onnx_ms_p50',
                       'infer_onnx_batch_size', 'infer_onnx_samples_per_s', 'resumes',
                       'owner'):
            batch_op.drop_column(column)
