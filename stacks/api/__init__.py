"""The REST API in which API Gateway talks to DynamoDB directly: routes (`model`), rules, the pure
resolution into API Gateway arguments (`spec`), VTL generation, OpenAPI, and the Api component.
"""
