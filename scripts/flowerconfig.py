"""Flower's configuration file: `celery flower --conf=scripts/flowerconfig.py`.

Flower reads its options from the environment (FLOWER_BASIC_AUTH, FLOWER_PORT,
FLOWER_ADDRESS). This file only closes one gap: Flower 2 serves /metrics (task
names, worker names, counts) without asking for its login, while every other
page and the API ask. Flower executes this file at start-up, before it serves.
"""

from flower.views.monitor import Metrics
from tornado.web import authenticated

# The same check every other Flower page runs: basic auth, when it is configured.
Metrics.get = authenticated(Metrics.get)
