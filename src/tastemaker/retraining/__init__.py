"""Guarded retraining: a candidate replaces the live version only if it is not worse."""
