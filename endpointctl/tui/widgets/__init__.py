"""Widgets of the TUI, one module per widget."""
