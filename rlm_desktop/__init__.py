"""RLM Desktop: offline question answering over your own folders with Recursive Language Models."""

__version__ = "0.1.0"
