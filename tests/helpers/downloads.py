"""The window's weights downloads in tests: its real download dialog and `slowfast weights download` child,
fetching from a `LocalServer` on 127.0.0.1 (helpers/local_registry_cli.py points the registry entries there)."""

from __future__ import annotations

import json
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "local_registry_cli.py"


def local_downloads(monkeypatch, urls: dict[str, str]) -> None:  # noqa: ANN001 - pytest's MonkeyPatch
    """The window's download dialog runs its real `slowfast weights download` child, which fetches the weights
    named in `urls` (name -> url, read when each download starts; classifier or detection registry names) from
    those URLs and refuses other hosts."""
    import app.window
    from app.dialogs import DownloadDialog

    class LocalDownloadDialog(DownloadDialog):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.process.setArguments([str(LAUNCHER), json.dumps(urls), *self.process.arguments()])

    monkeypatch.setattr(app.window, "DownloadDialog", LocalDownloadDialog)
