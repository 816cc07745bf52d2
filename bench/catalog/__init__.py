"""``python -m bench.catalog``: a 200,000-track library scanned, searched, browsed and served."""
