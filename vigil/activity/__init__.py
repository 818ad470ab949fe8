"""Activity of a person from audio and video (seed 002): cues, rules, a trainable model,
segments, history and reports. See docs/activity.md."""
