"""Deployment units: what `cdk deploy` creates and updates together."""
