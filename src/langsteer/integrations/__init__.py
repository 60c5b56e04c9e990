"""Bridges to the tools users already evaluate embeddings with (MTEB, sentence-transformers).

Each bridge hands langsteer's encoder and data to the tool's OWN evaluation code, so the tool's
numbers are an independent check of ours (``tests/test_mteb.py``). The tools are optional:
``pip install -e ".[mteb]"``.
"""
