"""Peak memory and time of `import outfits` on a synthetic outfit table (the README's figure; issue 20, finding 7).

    .venv/bin/python scripts/measure_outfit_import.py --rows 2000000 [--products 2000] [--twice]

Writes a plain-layout folder (products.csv with tiny images, outfits.csv with ROWS rows of 5-item outfits) under a
temporary folder, runs `python -m ctl_core --workspace TMP/ws import outfits DIR` in a child process (`--twice`:
then again, a re-import that replaces the first one's rows) and prints rows, file size, wall time and the child's
peak RSS (getrusage's ru_maxrss). Nothing outside the temporary folder is touched.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

CATEGORIES = ("dress", "shoes", "handbag", "earrings", "coat", "trousers", "shirt", "hat")


def make_folder(root: Path, rows: int, products: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder = root / "table"
    (folder / "img").mkdir(parents=True)
    with open(folder / "products.csv", "w", encoding="utf-8") as f:
        f.write("product_id,type,image,price\n")
        for i in range(products):
            Image.new("RGB", (32, 32), (i % 256, (i // 256) % 256, 120)).save(folder / "img" / f"p{i}.jpg")
            f.write(f"p{i},{CATEGORIES[i % len(CATEGORIES)]},img/p{i}.jpg,{10 + i % 90}\n")
    with open(folder / "outfits.csv", "w", encoding="utf-8") as f:
        f.write("outfit_id,product_id\n")
        for r in range(rows):
            f.write(f"o{r // 5},p{rng.randrange(products)}\n")
    return folder


def run_import(ws: Path, folder: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `import outfits` in a child process."""
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "ctl_core", "--workspace", str(ws), "--quiet", "import", "outfits",
                            str(folder), "--replace"], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if child.returncode:
        print(child.stdout, child.stderr, file=sys.stderr)
        raise SystemExit(child.returncode)
    print(child.stdout.splitlines()[0])
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--twice", action="store_true", help="import again (a re-import replacing the first)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp), args.rows, args.products)
        size = (folder / "outfits.csv").stat().st_size / 1e6
        for n in range(2 if args.twice else 1):
            wall, rss = run_import(Path(tmp) / "ws", folder)
            print(f"import {n + 1}: {args.rows:,} outfit rows ({size:.1f} MB), {args.products:,} products: "
                  f"{wall:.1f} s, peak RSS {rss:,.0f} MB (the largest child so far)")


if __name__ == "__main__":
    main()
