"""Purchase propensity: train, evaluate and version the model; score a user's items online."""
