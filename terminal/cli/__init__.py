"""The ``sscard`` command line."""
