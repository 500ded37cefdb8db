"""The sync engine: full sync as mark-and-sweep, identity sync, jobs, progress, cancellation."""
