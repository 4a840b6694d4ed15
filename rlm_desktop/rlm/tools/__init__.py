"""The model's toolbox: the names its code sees inside the sandbox (``namespace.py``), the
corpus over the pipe (``corpus.py``), ``tally`` (``tally.py``), ``ask_numbers``
(``values.py``) and reading numbers out of text (``numbers.py``). Nothing here knows the
sandbox; the worker imports these."""
