#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    import django
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] != ["runserver"]:
        # Commands (migrate, seal, verify, build a data set) are not web requests: workers' timeout.
        django.setup()
        from referendum.database import use_worker_statement_timeout

        use_worker_statement_timeout()
    execute_from_command_line(sys.argv)
