"""The model registry: approvals, versioned model packages, aliases and the audit log.

An approved run is exported into a package (model, signature, environment, lineage, card,
manifest); the registry keeps what makes a package trustworthy (manifest digest, trusted skops
types) outside the package, so a changed package cannot vouch for itself.
"""
