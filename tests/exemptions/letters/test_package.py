"""The package stays light: no database, web or queue library, and pyHanko only once a letter is signed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN = {"sqlalchemy", "flask", "werkzeug", "celery", "kombu", "redis", "alembic", "psycopg", "slack_sdk"}

PROBE = """
import json, sys
from pathlib import Path

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules})

import exemptions.letters
from exemptions.letters.samples import sample_content
from monitor.storage.enums import LetterKind

on_import = loaded()
monitor = sorted(m for m in sys.modules if m.startswith("monitor."))
signer = exemptions.letters.Signer.self_signed(Path(sys.argv[1]), "probe")
signer.sign(exemptions.letters.render_pdf(sample_content(LetterKind.EXTENSION)), reason="probe")
print(json.dumps([on_import, monitor, loaded()]))
"""


def test_importing_the_package_loads_no_forbidden_library_and_defers_pyhanko(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    on_import, monitor, after_signing = json.loads(done.stdout.strip().splitlines()[-1])
    assert not FORBIDDEN & set(on_import)
    assert "pyhanko" not in on_import  # it takes most of a second to import; only signing needs it
    assert set(monitor) <= {"monitor.storage", "monitor.storage.enums", "monitor.timefmt"}
    assert "pyhanko" in after_signing
    assert not FORBIDDEN & set(after_signing)
