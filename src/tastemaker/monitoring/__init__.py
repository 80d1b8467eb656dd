"""Monitoring: reference statistics per model version, drift, online metrics and alerts."""
