"""A durable outbox: messages queued in the database with the change they report, POSTed with a
bearer key by one delivery thread, retried with a doubling delay until delivered. Used by the
watchlist's registry messages (issue 15) and the activity reports (issue 18)."""
