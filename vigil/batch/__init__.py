"""Batch tracking of video files and folders (dense per-frame JSON)."""
