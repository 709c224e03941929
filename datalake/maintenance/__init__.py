"""Keeping a lake sound: verifying and repairing it (check), and moving it to a newer format (migrate)."""
