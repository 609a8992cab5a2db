"""A Django app signing people in through piauth with django-allauth's openid_connect
provider, configured as Paperless-ngx configures it (its PAPERLESS_SOCIALACCOUNT_PROVIDERS
JSON becomes SOCIALACCOUNT_PROVIDERS): a provider id, a name, the client's id and secret,
and server_url, the issuer. Its settings; urls.py has its pages. Run as
`DJANGO_SETTINGS_MODULE=settings python -m django …` from this directory.

Env: PIAUTH_ISSUER, CLIENT_ID, CLIENT_SECRET, APP_DB (a sqlite file), APP_PROVIDER_SETTINGS
(JSON merged into the provider's "settings", for a test that turns PKCE on), and
REQUESTS_CA_BUNDLE naming piauth's certificate from GET /certificate (allauth calls piauth
through requests).
"""

import json
import os

SECRET_KEY = os.environ.get("APP_SECRET_KEY", "tests-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["APP_DB"]}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
LOGIN_REDIRECT_URL = "/me"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [{
    "provider_id": "piauth",
    "name": "piauth",
    "client_id": os.environ.get("CLIENT_ID", ""),
    "secret": os.environ.get("CLIENT_SECRET", ""),
    "settings": {"server_url": os.environ.get("PIAUTH_ISSUER", ""),
                 **json.loads(os.environ.get("APP_PROVIDER_SETTINGS") or "{}")},
}]}}

