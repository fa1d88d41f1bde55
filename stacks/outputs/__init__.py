"""The stack outputs as a versioned contract: the JSON Schema in contracts/ (`contract`), the README
table generated from it, and the optional SSM copies of the outputs (`component`).
"""
