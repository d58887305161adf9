"""The product-shot check on real photos: a shop's product shots refused, labelled worn photos caught.

    CTL_WORKSPACE=workspace-mango .venv/bin/python scripts/product_shot_figures.py \
        [--labels docs/labels/fpi_worn_photos.csv] [--photos ../shared/real/fashion-product-images] [--no-cross-fit]
        [--results]

The workspace: a shop's outfit import (every catalogue row a product shot) built with labelled photos (its person
detector fitted). See ``ctl_core.bench.product_shot``. Scores computed here may add the labelled photos' backbone
features to the workspace's feature cache; run it on a copy (``cp -a``) to leave a workspace untouched.
``--results``: also ``docs/results/product_shot_figures_<workspace>_<labels file>.json|md``, stamped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctl_core.bench.product_shot import product_shot_figures  # noqa: E402
from ctl_core.config import Workspace  # noqa: E402
from ctl_core.workflows.report import workspace_name  # noqa: E402
from ctl_core.workflows.results import Stamp, script_command, write_script_result  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="default: $CTL_WORKSPACE or ./workspace")
    p.add_argument("--labels", default=str(ROOT / "docs" / "labels" / "fpi_worn_photos.csv"))
    p.add_argument("--photos", default=str(ROOT.parent / "shared" / "real" / "fashion-product-images"))
    p.add_argument("--no-cross-fit", action="store_true", help="skip the two cross-fitted detectors (faster)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--results", action="store_true", help="also write a stamped docs/results/ file")
    args = p.parse_args()
    started = Stamp.now(script_command(sys.argv))
    ws = Workspace.at(args.workspace)
    figures = product_shot_figures(ws, Path(args.labels), Path(args.photos), cross_fit=not args.no_cross_fit)
    print(json.dumps(figures.to_dict()) if args.json else figures)
    if args.results:
        name = f"product_shot_figures_{workspace_name(ws)}_{Path(args.labels).stem}"
        print("written:", write_script_result(name, f"Product-shot check on {workspace_name(ws)}, labels "
                                              f"{Path(args.labels).name}", f"```text\n{figures}\n```",
                                              figures.to_dict(), started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
