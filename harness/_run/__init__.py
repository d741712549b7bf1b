"""Running: one ``harness run`` of a study — its data, the study loop, trials in worker
processes, their speed — and ``harness reproduce``. Results are recorded by
:mod:`harness._store`; what happens after a process dies is :mod:`harness._recover`.

The map of every module is docs/architecture.md.
"""
