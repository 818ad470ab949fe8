"""The watchlist (seed 004's registry of people to look for): enrolment, matching and alerts.

Kept import-light: `vigil.config` imports this package's settings."""
