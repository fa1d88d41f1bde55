"""Global Tables (version 2019.11.21): replica regions and consistency mode of a stack (`model`),
the topology and feature rules checked before anything is registered (`rules`), the pure
resolution into replica arguments, per-region autoscaling and ARNs (`spec`), and the per-region
stack outputs (`component`). The table component applies the spec; access, audit, changes,
guardrails and the local runtime (stacks/local/replication.py) read it.
"""
