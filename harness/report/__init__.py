"""Leaderboards: SQL aggregation over the results store; table, JSON, CSV or Markdown."""

from harness.report.leaderboard import Leaderboard
from harness.report.leaderboard import query_leaderboards
from harness.report.render import render

__all__ = ["Leaderboard", "query_leaderboards", "render"]
