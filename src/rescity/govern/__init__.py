"""Departments, roles, access policy, sharing grants, audit trail and privacy rules.

Modules
-------
departments
    The departments (domains) and roles, and which department owns which data.
policy
    Access decisions by a casbin RBAC-with-domains model (packaged ``policy/``), with approved
    sharing grants added as policy rows.
auth
    Password and API-token hashing, JSON Web Tokens.
audit
    The hash chain of the append-only audit log and its verification.
privacy
    Small-cell (k) suppression of population tables released outside the owning department.
"""

from rescity.govern.departments import DEPARTMENTS, ROLES, owner_of, resources_owned
from rescity.govern.principal import SYSTEM, Principal

__all__ = ["DEPARTMENTS", "ROLES", "SYSTEM", "Principal", "owner_of", "resources_owned"]
