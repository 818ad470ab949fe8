"""Anonymisation of people in video (issue 17, seed 003): faces covered (blur, pixelate, solid,
landmark mask), bodies and clothes recoloured or hidden, sound and timing kept.

- `styles`: how a face region is covered (shared by files and the live privacy mode);
- `settings`: the `anonymize:` settings section."""
