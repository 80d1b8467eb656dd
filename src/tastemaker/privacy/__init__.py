"""Privacy: forgetting a user everywhere (with a receipt), retention and opt-out."""
