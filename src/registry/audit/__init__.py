"""Auditors (DESIGN.md section 4): the hash chain and its seals, verify, export and import,
replay as of a position or time, and erasure of personal data."""
