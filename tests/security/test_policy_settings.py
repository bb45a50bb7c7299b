"""The policy and quota settings ("Hardening, round two", 4 and 5) come from the environment,
with the defaults README's Security section gives, and a bad value stops the process at start
(test_deploy_check.py's way: a fresh `manage.py` per case, since settings are read once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.test_deploy_check import _manage, _production_env

NAMES = [
    "PROJECT_CREATORS", "MEMBER_DIRECTORY", "SAM_CHECKPOINTS_OFFERED", "QUOTA_PROJECT_IMAGES",
    "QUOTA_PROJECT_BYTES", "QUOTA_USER_QUEUED_JOBS", "QUOTA_PROJECT_QUEUED_JOBS",
    "QUOTA_RETRY_AFTER", "JOB_MAX_INLINE_BOXES", "JOB_MAX_EVERYTHING_PROMPTS",
]  # fmt: skip
SETTINGS_JSON = (
    "import json; from django.conf import settings as s; "
    f"print(json.dumps({{k: getattr(s, k) for k in {NAMES!r}}}))"
)


def _values(tmp_path: Path, **env: str) -> dict[str, object]:
    result = _manage(_production_env(tmp_path, **env), "shell", "-c", SETTINGS_JSON)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_the_defaults_and_the_knobs(tmp_path: Path) -> None:
    assert _values(tmp_path) == {
        "PROJECT_CREATORS": "everyone",
        "MEMBER_DIRECTORY": "shared",
        "SAM_CHECKPOINTS_OFFERED": ["mobile_sam", "sam_vit_b", "sam2.1_hiera_tiny.pt"],
        "QUOTA_PROJECT_IMAGES": 50_000,
        "QUOTA_PROJECT_BYTES": 20 * 1024**3,
        "QUOTA_USER_QUEUED_JOBS": 5,
        "QUOTA_PROJECT_QUEUED_JOBS": 10,
        "QUOTA_RETRY_AFTER": 60,
        "JOB_MAX_INLINE_BOXES": 10_000,
        "JOB_MAX_EVERYTHING_PROMPTS": 32_768,
    }
    turned = _values(
        tmp_path,
        PROJECT_CREATORS="Staff",
        MEMBER_DIRECTORY="all",
        SAM_CHECKPOINTS_OFFERED="mobile_sam, /models/ours.pth",
        QUOTA_PROJECT_IMAGES="0",
        QUOTA_USER_QUEUED_JOBS="1",
    )
    assert turned["PROJECT_CREATORS"] == "staff"
    assert turned["MEMBER_DIRECTORY"] == "all"
    assert turned["SAM_CHECKPOINTS_OFFERED"] == ["mobile_sam", "/models/ours.pth"]
    assert turned["QUOTA_PROJECT_IMAGES"] == 0 and turned["QUOTA_USER_QUEUED_JOBS"] == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PROJECT_CREATORS", "admins", "is not one of everyone, staff"),
        ("MEMBER_DIRECTORY", "public", "is not one of shared, all"),
        ("QUOTA_PROJECT_BYTES", "20G", "is not an integer"),
        ("QUOTA_USER_QUEUED_JOBS", "-1", "must be at least 0"),
        ("JOB_MAX_INLINE_BOXES", "0", "must be at least 1"),
    ],
)
def test_a_bad_policy_value_stops_the_start(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = _manage(_production_env(tmp_path, **{variable: value}), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
