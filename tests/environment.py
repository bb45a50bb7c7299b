"""Loaded as a pytest plugin (`-p tests.environment` in pyproject) before Django settings are read.

Tests get their own state folder, so a running demo (its SQLite file, its media, and above all
its embedded broker folder, where a demo worker would take the tests' tasks) is never touched.
"""

import os
import tempfile

os.environ.setdefault("SAM_VAR_DIR", tempfile.mkdtemp(prefix="sam-annotator-test-"))
# Development mode (a fixed secret key, plain HTTP), for this process and the servers and
# workers it starts; DEBUG stays off, as in the demo and in production.
os.environ.setdefault("DJANGO_ENV", "dev")
# Playwright's sync API keeps an event loop on the test thread; the ORM calls that tests make
# beside it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
