"""Day-two operations: alarms declared once per resource kind (`model` for the stack's settings,
`spec` for the pure resolution of an inventory into alarm and dashboard arguments), the Operations
component (alarm topic, alarms, dashboard), and the smoke test of a deployed stack.
"""
