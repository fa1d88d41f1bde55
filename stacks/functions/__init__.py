"""The Lambda functions around the tables: their model and rules, packaging, and the Functions
component (roles' runtime rights, log groups, queues, topics, stream mappings).
"""
