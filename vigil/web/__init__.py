"""`vigil serve`: the web dashboard and REST API over the live pipeline and the identity store."""
