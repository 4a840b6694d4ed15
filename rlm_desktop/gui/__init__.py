"""The desktop app (PySide6 widgets) over the core. Only this package imports Qt."""
