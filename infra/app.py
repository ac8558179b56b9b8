"""``python infra/app.py``: synthesize every stack into ``infra/cdk.out`` offline (no AWS credentials).

The CDK CLI runs this too (``cdk.json``'s ``app``), passing the context of ``cdk.json`` and ``-c`` options.
A bad setting, a name the lake does not define or a missing artifact stops synth with one line naming it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # lake_infra lives beside this file; lake_assets is installed in the venv
os.environ.setdefault(
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"
)  # jsii: the Node majors not to warn about

from lake_infra.app import SYNTH_ERRORS, build_app  # noqa: E402


def main() -> int:
    outdir = None if os.environ.get("CDK_OUTDIR") else str(HERE / "cdk.out")
    try:
        build_app(outdir=outdir).synth()
    except SYNTH_ERRORS as exc:
        print(f"synth failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
