"""Who may reach which rows: principals and grants (`model`), policy generation and rules
(`policies`), the IAM evaluator and the isolation proof, the role component and Cognito identity.
"""
