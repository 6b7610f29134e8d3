"""Write robosuite's private macro file (silences its start-up warnings).

robosuite reads ``robosuite/macros_private.py`` if present; we keep its
defaults and only make the file exist, as its own setup script would.
"""

from importlib.util import find_spec
from pathlib import Path

spec = find_spec("robosuite")
if spec is not None and spec.origin:
    target = Path(spec.origin).parent / "macros_private.py"
    if not target.exists():
        target.write_text("# h05-bench: robosuite defaults kept; this file only silences its start-up warning\n")
