"""Django's technical 500 page (DEBUG=1 only) never shows a secret.

Django's own filter hides settings whose names look secret (KEY, SECRET, TOKEN, PASS...), which
misses CREDENTIAL_PEPPER and the password inside DATABASE_URL and REDIS_URL, and shows every
local variable of every frame. This one also hides every setting that holds a URL or a key, and
every value, in a setting or a frame, that contains one of the secrets.
"""

import re

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter


def _secrets():
    values = [
        settings.SECRET_KEY,
        settings.CREDENTIAL_PEPPER,
        settings.SNAPSHOT_SIGNING_KEY,
        settings.DATABASE_URL,
        settings.REDIS_URL,
        settings.EMAIL_HOST_PASSWORD,
        settings.DATABASES["default"].get("PASSWORD") or "",
    ]
    found = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if value and len(value) >= 8:
            found.append(value)
    return found


class SecretsFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|PEPPER|URL|DATABASE|CACHES|BROKER|DSN",
        flags=re.I,
    )

    def _contains_secret(self, value):
        try:
            text = repr(value)
        except Exception:
            return True
        return any(secret in text or repr(secret) in text for secret in _secrets())

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        if cleansed is not self.cleansed_substitute and self._contains_secret(cleansed):
            return self.cleansed_substitute
        return cleansed

    def get_safe_cookies(self, request):
        return {name: self.cleansed_substitute for name in request.COOKIES}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if self._contains_secret(value) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
