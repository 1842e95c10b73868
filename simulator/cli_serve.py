"""Placeholder: the PC/SC bridge commands are being written."""
import click
SERVE_COMMANDS: list[click.Command] = []
