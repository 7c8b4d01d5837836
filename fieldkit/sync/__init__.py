"""What the laptop exchanges with the office: the wire schema (and, later, the sync client)."""
