"""The customer-managed KMS keys: key policies (`policy`) and the key components.
"""
