"""Reports: reporting events recorded from the event log, daily roll-ups, queries and exports
(see README.md in this folder for the design)."""
