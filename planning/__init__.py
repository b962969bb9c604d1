"""What the configuration means on real hardware: facts, sizing, the kubelet budget, fit and capacity decisions.

Imported by the stacks, the charts and the scripts; it renders nothing and creates nothing.
`planning.catalog` is a leaf (facts read from planning/data/) that config validation reads too.
"""
