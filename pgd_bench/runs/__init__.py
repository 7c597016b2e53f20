"""Runs: configs, results, execution on threads or a cluster, and the cell cache."""
