"""Reusable AWS constructs; stacks compose them. Each does one job."""
