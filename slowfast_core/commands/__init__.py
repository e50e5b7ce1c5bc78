"""Subcommands of the `slowfast` CLI: one module each, exposing `register(subparsers)`."""
