"""Load and concurrency tests reuse the backend fixtures: media in a temp dir, fast password
hashing, no broker for tests that start no worker, a project with one user per role."""

from tests.backend.conftest import (  # noqa: F401 - fixtures, found by name
    client_for,
    media_root,
    no_broker,
    project_with_roles,
)
