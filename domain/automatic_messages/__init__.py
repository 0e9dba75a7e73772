"""Messages Parley writes by itself: greeting, out of office, CSAT survey, and auto-resolve."""
