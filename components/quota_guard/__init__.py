"""GPU capacity checks shared by scripts/preflight.py and the in-stack quota guard (a Lambda asset)."""
