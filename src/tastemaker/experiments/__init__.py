"""A/B experiments: definitions, assignment, metrics and analysis."""
