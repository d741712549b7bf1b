"""Leaderboards: SQL aggregation over the results store; table, JSON, CSV or Markdown."""

from harness._report.leaderboard import Leaderboard
from harness._report.leaderboard import query_leaderboards
from harness._report.render import render

__all__ = ["Leaderboard", "query_leaderboards", "render"]
