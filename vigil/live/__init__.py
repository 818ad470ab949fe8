"""The live pipeline: per camera a decode, an analysis and a recognition thread, and its stages
(sampling, motion gate, dead zones, tracking, quality, recognition gating, events)."""
