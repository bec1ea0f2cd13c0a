"""Monitoring: reference profiles, data validation, drift tests and reports."""
