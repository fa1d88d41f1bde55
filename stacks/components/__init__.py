"""Thin ComponentResources: they turn resolved, validated specs into Pulumi resources."""
