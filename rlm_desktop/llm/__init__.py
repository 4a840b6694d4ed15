"""Models: the catalog and installer, the llama.cpp backend, batching and caching.
Imports nothing else of ours except the base modules (errors, paths, settings)."""
