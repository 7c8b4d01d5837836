"""Widgets of the technician's app."""
