"""Repositories: every SQL query, with account scoping applied here and nowhere else."""
