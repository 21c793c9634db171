"""Departments, users, roles, API keys, web sessions and permission dependencies."""
