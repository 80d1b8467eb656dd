"""Training jobs: a recommender version from the workspace's events into the registry."""
