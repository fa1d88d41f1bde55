"""Local runtime: the stack on one machine, with moto on localhost standing in for AWS."""
