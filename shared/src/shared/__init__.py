"""The common package of the three reference apps.

It holds what every app would otherwise write again: settings read from the
environment (`settings`), the vetted Celery configuration and the factory that
builds an app from it (`celery_app`), request-id logging (`request_id`), the
progress helper (`progress`), health checks (`health`) and the tasks more than
one app uses (`tasks`). It imports no app; every app imports it.
"""
