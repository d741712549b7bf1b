"""Recovering: heartbeats that say a trial's process is alive, putting a shared study right
after one died, and which study a run continues.

The map of every module is docs/architecture.md.
"""
