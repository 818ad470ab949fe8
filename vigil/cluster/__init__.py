"""`vigil serve --cluster`: camera pipelines as Ray actors over a cluster's nodes (docs/ray.md)."""
