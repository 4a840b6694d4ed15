"""Start the desktop app: ``rlm-desktop gui`` or the ``rlm-desktop-gui`` launcher."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from rlm_desktop import __version__, paths
from rlm_desktop.gui.main_window import MainWindow
from rlm_desktop.gui.platform_check import check_platform
from rlm_desktop.gui.services import CoreServices, Services
from rlm_desktop.gui.settings_dialog import gui_settings

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    return QIcon(str(paths.resources_dir() / "icons" / "rlm-desktop.svg"))


def make_app(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("RLM Desktop")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("rlm-desktop")
    app.setDesktopFileName("rlm-desktop")
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def create_window(services: Services | None = None) -> MainWindow:
    window = MainWindow(services or CoreServices(), gui_settings())
    window.show()
    window.start()
    from rlm_desktop.gui import testhook

    window._test_hook = testhook.install(window)  # only with RLM_DESKTOP_TEST_HOOK set
    return window


def main(argv: Sequence[str] | None = None) -> int:
    from rlm_desktop.logs import setup_logging

    if not logging.getLogger("rlm_desktop").handlers:
        setup_logging(False)
    check = check_platform()  # `rlm-desktop gui` checked already; the rlm-desktop-gui launcher did not
    if not check.ok:
        print(check.message(), file=sys.stderr)
        return 1
    app = make_app(argv)
    window = create_window()
    log.info("GUI started (data dir %s)", paths.data_dir())
    code = app.exec()
    del window
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
