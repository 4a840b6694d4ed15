"""Entry point of the frozen REPL sandbox worker (``dist/rlm-desktop/rlm-desktop-repl-worker``).

It is a separate executable because the sandbox refuses to run with ``ctypes``, sockets
or ``multiprocessing`` loaded, and PyInstaller's bootstrap imports ``ctypes`` whenever the
executable's archive contains it (the app's does: llama-cpp-python is built on ctypes).
This one is built from an archive without them; ``ReplSession`` starts it in a bundle."""

from rlm_desktop.rlm.sandbox.worker import main

if __name__ == "__main__":
    main()
