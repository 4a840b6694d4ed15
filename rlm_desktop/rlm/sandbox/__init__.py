"""The sandbox model code runs in: one worker process per RLM node (root or child), driven
over a pipe with a small validated message protocol (``wire.py``), locked down in layers
(``confine.py``: Landlock and seccomp; ``lockdown.py``: rlimits and the audit hook). The
worker holds nothing but its pipe; ``library_service.py`` answers its library requests.
``types.py`` is the contract between the engine and the session."""
