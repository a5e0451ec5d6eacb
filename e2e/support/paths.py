"""Where the suite reads the app from and writes its artifacts (e2e/artifacts/ is gitignored)."""

from pathlib import Path

E2E = Path(__file__).resolve().parent.parent
ROOT = E2E.parent
FRONTEND = ROOT / "frontend"
BACKEND = ROOT / "backend"

ARTIFACTS = E2E / "artifacts"
LOGS = ARTIFACTS / "logs"
RUN = ARTIFACTS / "run"
SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "failures"
MAIL = ARTIFACTS / "mail"
PYCACHE = ARTIFACTS / "pycache"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
