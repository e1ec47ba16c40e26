"""Where the result schema lived before the leaderboard had a module of its own.

[`LeaderboardResult`][spirograph.leaderboard.LeaderboardResult] is now part of
[`spirograph.leaderboard`][spirograph.leaderboard]; this name stays so that existing code keeps
working.
"""

from __future__ import annotations

from spirograph.leaderboard._result import LeaderboardResult

__all__ = ["LeaderboardResult"]
