"""The common package of the three reference apps.

It holds only what more than one app uses, which each would otherwise write
again: settings read from the environment (`settings`), the vetted Celery
configuration and the factory that builds an app from it (`celery_app`),
request-id logging (`request_id`), the progress helper (`progress`), health
checks (`health`) and the test fixtures of a real Redis, worker and SMTP server
(`testing`). What one app alone uses lives in that app (the blog's email task,
say). It imports no app; every app imports it.
"""
