"""Running a study: everything between a checked task file and a finished study.

Where each step of a trial lives:

- ``resolve``: a task file checked against the installed plugins (``ResolvedTask``).
- ``samplers``: the samplers and pruners a task file may name, and their options.
- ``planning``: where a trial is planned — one point of the search space, asked of Optuna.
- ``loop``: the study loop — claims trials from the budget, records epochs and results.
- ``trial``: where a trial is run — data, model, optimizer, epochs, test, speed.
- ``workers``: the worker processes trials run in.
- ``optuna_study``: the Optuna side — open the study, tell it results.
- ``heartbeat``: running trials say they are alive.
- ``recovery``: where a trial is recovered — trials of dead processes, re-runs.
- ``resume``: which study a run continues.
- ``session``: one ``harness run``: prepare the task file, load data, run the loop.
- ``faults``: crash points for the crash-safety tests.

Results are recorded by :mod:`harness._store`.
"""
