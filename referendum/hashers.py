"""The password hasher, at the cost the operator chose (PASSWORD_HASH_ITERATIONS).

Django's PBKDF2-SHA256 with its iteration count read from settings: one sign-in's hash costs
a quarter to a third of a CPU-second at Django 5.2's default of 1,000,000 (docs/security.md measures it).
A stored hash made with another count still verifies, and is rewritten at the new count at the
account's next successful sign-in (Django's must_update).
"""

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher as DjangoPBKDF2PasswordHasher


class PBKDF2PasswordHasher(DjangoPBKDF2PasswordHasher):
    @property
    def iterations(self):
        return settings.PASSWORD_HASH_ITERATIONS
