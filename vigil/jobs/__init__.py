"""Persistent jobs for long work (batch tracking now; anonymisation and activity later).

A job is a row in the store (`vigil.store.jobs`): kind, JSON parameters, state, progress, result.
`JobManager` queues and runs them through an `Executor`; each kind (`JobKind`) is a parameters
model plus a run function, found in a `job.py` module of its package (see `kinds.py`).
This package's `__init__` stays empty of imports: `vigil.config` imports `vigil.jobs.config`."""
