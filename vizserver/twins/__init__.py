"""Live twins: numerical models users steer (docs/twins.md). Pure numerics here; the runner hosts them."""
