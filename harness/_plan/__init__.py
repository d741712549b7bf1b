"""Planning: a checked task file against the installed plugins, the samplers and pruners it
names, and each trial's point of the search space. Nothing here trains or writes results.

The map of every module is docs/architecture.md.
"""
