"""DAX, the in-VPC cache in front of the tables: the per-stack settings (`model`), the rules DAX
enforces at create time (`rules`), the pure resolution into network and cluster arguments (`spec`),
the service role's and clients' policies (`policies`), and the Network and Cluster components.
"""
