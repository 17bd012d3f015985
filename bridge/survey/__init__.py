"""The satisfaction survey: the figures `quittance stats` prints (bridge/survey/stats.py)."""
