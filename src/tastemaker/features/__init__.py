"""Feature definitions: one function per feature set, used offline (as of each label time)
and online (as of the request), so training and serving see the same numbers."""
