"""The tables: the data model, its DynamoDB rules, the pure resolution into table arguments
(`spec`), and the Table component.
"""
