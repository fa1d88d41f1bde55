"""ddb-blueprint: the program as a package (config, components, pure logic, offline tools)."""
