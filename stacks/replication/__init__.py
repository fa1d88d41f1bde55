"""Global Tables (version 2019.11.21): replica regions and consistency mode of a stack (`model`),
the topology and feature rules checked before anything is registered (`rules`), and the pure
resolution into replica arguments, per-region keys, autoscaling and ARNs (`spec`). The table
component applies them; access, audit, changes, guardrails and the local runtime read `spec`.
"""
