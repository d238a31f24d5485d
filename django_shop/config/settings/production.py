"""Production: DJANGO_SETTINGS_MODULE=config.settings.production.

SHOP_SECRET_KEY and SHOP_ALLOWED_HOSTS must be set; static files are collected
by bin/migrate and served by WhiteNoise. SHOP_HTTPS=true turns on what a site served
over HTTPS wants (the compose stack serves plain HTTP on loopback).
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import SETTINGS
from config.settings.base import *  # noqa: F403

if SETTINGS.shop_secret_key is None:
    raise ImproperlyConfigured("SHOP_SECRET_KEY must be set in production")
SECRET_KEY = SETTINGS.shop_secret_key.get_secret_value()

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

if SETTINGS.shop_https:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
