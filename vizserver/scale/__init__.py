"""Scale-out with Redis (docs/architecture.md "Scale-out"): several server processes and twin workers share sessions."""
