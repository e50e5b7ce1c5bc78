"""The program's version: one place, imported by the package and by whatever names it (downloads' User-Agent,
session.json, `--version`), so that nothing below the package's `__init__` has to import the package itself."""

__version__ = "0.1.0"
