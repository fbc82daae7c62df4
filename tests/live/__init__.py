"""Live-loop tests (a package: its test_pipeline.py shares a basename with tests/build/test_pipeline.py)."""
