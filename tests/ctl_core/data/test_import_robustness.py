"""Issue 12 (part B) findings in the importers: ids keep their Unicode, image paths stay inside the imported folder,
over-long names are skipped rows, encodings are named, an emptying re-import needs --replace, and a kill between
the tables' writes never leaves a raw box naming a product that is gone."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from ctl_core.cli import main
from ctl_core.config import Workspace
from ctl_core.data.importers import (
    BAD_ID,
    BAD_PATH,
    DUPLICATE_ID,
    OUTSIDE_FOLDER,
    ImportDataError,
    ImportWouldEmptyError,
    common,
    import_folder,
    import_polyvore,
    interrupted_imports,
)
from ctl_core.data.tables import read_catalogue, read_raw_boxes


def jpg(path: Path, colour=(200, 30, 30), size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG")
    return path


def ws_at(tmp_path: Path) -> Workspace:
    return Workspace.at(tmp_path / "ws").ensure()


# ------------------------------------------------------------------------------------------------ ids

def test_unicode_ids_stay_distinct_and_collide_only_when_equal(tmp_path):
    """Finding: `鞋-1` and `包-1` both became `1` (the second dropped as a duplicate)."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    for name in ("a", "b", "c", "d"):
        jpg(folder / f"{name}.jpg")
    decomposed, composed = "cafe\u0301-1", "caf\u00e9-1"   # the same id, in NFD and NFC
    csv = tmp_path / "p.csv"
    csv.write_text("id,category,image\n鞋-1,shoes,a.jpg\n包-1,bags,b.jpg\n"
                   f"{decomposed},tops,c.jpg\n{composed},tops,d.jpg\n", encoding="utf-8")
    rep = import_folder(ws, folder, csv=csv)
    ids = set(read_catalogue(ws.catalogue_csv)["product_id"])
    assert ids == {"鞋-1", "包-1", composed}
    assert rep.skipped == {DUPLICATE_ID: 1}   # NFD and NFC spellings are one id


def test_path_derived_ids_keep_letters_of_every_script(tmp_path):
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    jpg(folder / "shoes" / "鞋 1.jpg")
    jpg(folder / "shoes" / "包 1.jpg")
    import_folder(ws, folder)
    assert set(read_catalogue(ws.catalogue_csv)["product_id"]) == {"shoes-鞋-1", "shoes-包-1"}


def test_ids_that_look_like_paths_or_hold_control_characters_are_skipped(tmp_path):
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    jpg(folder / "ok.jpg")
    csv = tmp_path / "p.csv"
    csv.write_text("id,category,image\n../../etc/x,shoes,ok.jpg\nbad\x07bell,shoes,ok.jpg\nok,shoes,ok.jpg\n")
    rep = import_folder(ws, folder, csv=csv)
    assert rep.skipped == {BAD_ID: 2} and rep.imported == 1


# ------------------------------------------------------------------------------------------------ paths

def test_csv_image_paths_outside_the_folder_are_refused_and_counted(tmp_path):
    """Finding: `..`, absolute paths and symlinks in folder CSVs reached images outside the folder."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    secret = jpg(tmp_path / "secret" / "private.jpg")
    jpg(folder / "inside.jpg")
    (folder / "link.jpg").symlink_to(secret)
    csv = tmp_path / "p.csv"
    csv.write_text("id,category,image\n"
                   "dotdot,shoes,../secret/private.jpg\n"
                   f"absolute,shoes,{secret}\n"
                   "symlink,shoes,link.jpg\n"
                   f"absolute-inside,shoes,{folder / 'inside.jpg'}\n"
                   "relative,shoes,inside.jpg\n")
    rep = import_folder(ws, folder, csv=csv)
    cat = read_catalogue(ws.catalogue_csv)
    assert sorted(cat["product_id"]) == ["absolute-inside", "relative"]
    assert rep.skipped == {OUTSIDE_FOLDER: 3}
    assert not any("secret" in p for p in cat["image_path"])


def test_symlinked_files_in_a_plain_folder_import_are_refused(tmp_path):
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    secret = jpg(tmp_path / "secret" / "private.jpg")
    jpg(folder / "shoes" / "mine.jpg")
    (folder / "shoes" / "stolen.jpg").symlink_to(secret)
    (folder / "shoes" / "alias.jpg").symlink_to(folder / "shoes" / "mine.jpg")   # inside: fine
    rep = import_folder(ws, folder)
    assert sorted(read_catalogue(ws.catalogue_csv)["product_id"]) == ["shoes-alias", "shoes-mine"]
    assert rep.skipped == {OUTSIDE_FOLDER: 1}


def test_path_component_over_255_bytes_is_a_skipped_row_not_an_oserror(tmp_path):
    """Finding: one such row aborted the whole `import folder` with an OSError traceback."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    jpg(folder / "ok.jpg")
    long_name = "x" * 300 + ".jpg"
    csv = tmp_path / "p.csv"
    csv.write_text(f"id,category,image\nlong,shoes,{long_name}\nlong2,shoes,sub/{'y' * 256}/a.jpg\n"
                   f"{'z' * 300},shoes,\nok,shoes,ok.jpg\n")
    rep = import_folder(ws, folder, csv=csv)
    assert rep.imported == 1
    assert rep.skipped == {BAD_PATH: 2, BAD_ID: 1}


def test_nul_byte_in_an_image_path_is_a_skipped_row_not_an_abort(tmp_path, capsys):
    """Issue 20, finding 1: one row's image `a\\0b.jpg` ended `import folder --csv` with "error: embedded null
    byte" (rc 2) and the good rows were not imported either."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    jpg(folder / "ok.jpg")
    jpg(folder / "ok2.jpg")
    csv = tmp_path / "n.csv"
    csv.write_text("id,category,image\nok,shoes,ok.jpg\nnul,shoes,a\0b.jpg\nok2,bags,ok2.jpg\n")
    assert main(["--workspace", str(ws.root), "import", "folder", str(folder), "--csv", str(csv)]) == 0
    assert sorted(read_catalogue(ws.catalogue_csv)["product_id"]) == ["ok", "ok2"]
    out = capsys.readouterr().out
    assert BAD_PATH in out and "NUL byte" in out
    assert common.path_problem(folder / "a\0b.jpg", [folder])[0] == BAD_PATH


def polyvore_root(tmp_path: Path, items: dict[str, str], outfits: list[list[str]]) -> Path:
    """A minimal Polyvore Outfits folder: ``items`` id -> semantic category, one outfit per list of item ids."""
    root = tmp_path / "pv"
    (root / "nondisjoint").mkdir(parents=True, exist_ok=True)
    meta = {i: {"semantic_category": c, "title": f"item {i}"} for i, c in items.items()}
    (root / "polyvore_item_metadata.json").write_text(json.dumps(meta))
    for n, i in enumerate(items):
        if "/" not in i:
            jpg(root / "images" / f"{i}.jpg", ((40 * n) % 255, 80, 120))
    train = [{"set_id": f"s{k}", "items": [{"item_id": i, "index": j + 1} for j, i in enumerate(o)]}
             for k, o in enumerate(outfits)]
    (root / "nondisjoint" / "train.json").write_text(json.dumps(train))
    return root


def test_polyvore_item_id_with_dotdot_is_refused(tmp_path):
    """Finding: item_id `../../../secret/private` was stored and imported an image from outside the data set."""
    ws = ws_at(tmp_path)
    root = polyvore_root(tmp_path, {"1": "tops", "2": "shoes", "../../../secret/private": "bags"},
                        [["1", "2", "../../../secret/private"]])
    jpg(tmp_path / "secret" / "private.jpg")          # what ../../../secret/private.jpg would reach
    rep = import_polyvore(ws, root)
    assert set(read_catalogue(ws.catalogue_csv)["product_id"]) == {"1", "2"}
    assert rep.skipped == {BAD_ID: 1}


def test_polyvore_image_symlinked_out_of_the_images_folder_is_refused(tmp_path):
    ws = ws_at(tmp_path)
    root = polyvore_root(tmp_path, {"1": "tops", "2": "shoes"}, [["1", "2"]])
    secret = jpg(tmp_path / "secret.jpg")
    (root / "images" / "2.jpg").unlink()
    (root / "images" / "2.jpg").symlink_to(secret)
    rep = import_polyvore(ws, root)
    assert set(read_catalogue(ws.catalogue_csv)["product_id"]) == {"1"}
    assert rep.skipped == {OUTSIDE_FOLDER: 1}


# ------------------------------------------------------------------------------------------------ encodings

def test_latin1_csv_is_refused_naming_the_encoding(tmp_path):
    """Finding: Latin-1 CSVs were imported with replacement characters."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    jpg(folder / "a.jpg")
    csv = tmp_path / "p.csv"
    csv.write_bytes("id,category,title,image\na,shoes,Escarpin doré,a.jpg\n".encode("latin-1"))
    with pytest.raises(ImportDataError, match="not UTF-8.*Latin-1"):
        import_folder(ws, folder, csv=csv)
    assert not ws.catalogue_csv.exists()
    csv.write_bytes("id,category,title,image\na,shoes,Escarpin doré,a.jpg\n".encode("utf-16"))
    with pytest.raises(ImportDataError, match="UTF-16"):
        import_folder(ws, folder, csv=csv)
    csv.write_bytes("\ufeffid,category,title,image\na,shoes,Escarpin doré,a.jpg\n".encode("utf-8"))  # BOM is fine
    import_folder(ws, folder, csv=csv)
    assert read_catalogue(ws.catalogue_csv)["title"].tolist() == ["Escarpin doré"]


# ------------------------------------------------------------------------------------------------ --replace

def test_header_only_reimport_is_refused_unless_replace(tmp_path, capsys):
    """Finding: a header-only CSV silently removed every product of the previous folder import."""
    ws, folder = ws_at(tmp_path), tmp_path / "shop"
    for name in ("a", "b"):
        jpg(folder / f"{name}.jpg")
    csv = tmp_path / "p.csv"
    csv.write_text("id,category\na,shoes\nb,bags\n")
    import_folder(ws, folder, csv=csv)
    before = ws.catalogue_csv.read_bytes()
    csv.write_text("id,category\n")
    with pytest.raises(ImportWouldEmptyError, match="--replace"):
        import_folder(ws, folder, csv=csv)
    assert ws.catalogue_csv.read_bytes() == before and interrupted_imports(ws) == []
    argv = ["--workspace", str(ws.root), "--quiet", "import", "folder", str(folder), "--csv", str(csv)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: import folder: this import brings no products") and "\n" not in err
    assert main(argv + ["--replace"]) == 0
    assert len(read_catalogue(ws.catalogue_csv)) == 0


# ------------------------------------------------------------------------------------------------ kill between writes

class Killed(Exception):
    """Stands for a kill -9 between two writes (every write is atomic, so a kill lands between two of them)."""


def _consistent(ws: Workspace) -> None:
    cat = set(read_catalogue(ws.catalogue_csv)["product_id"])
    boxes = read_raw_boxes(ws.raw_boxes_csv)
    named = set(boxes.loc[boxes["product_id"] != "", "product_id"])
    assert named <= cat, f"raw boxes name products not in the catalogue: {sorted(named - cat)}"
    per_outfit = boxes.groupby("outfit_id").size().to_dict()
    for q in json.loads(ws.fitb_json.read_text()) if ws.fitb_json.exists() else []:
        for item in q["question"] + q["answers"]:   # "<outfit>-<k>": the k-th box of that outfit must exist
            outfit, k = item.rsplit("-", 1)
            assert int(k) < per_outfit.get(outfit, 0), f"FITB item {item} names no box"


def test_a_kill_between_any_two_writes_leaves_the_tables_consistent(tmp_path, monkeypatch):
    """Finding: an import killed between its writes left raw boxes pointing at products gone from the catalogue."""
    ws = ws_at(tmp_path)
    old = polyvore_root(tmp_path / "old", {str(i): c for i, c in zip(range(1, 7), ["tops", "bottoms", "shoes"] * 2)},
                        [["1", "2", "3"], ["4", "5", "6"]])
    (old / "nondisjoint" / "fill_in_blank_train.json").write_text(json.dumps(
        [{"question": ["s0_1", "s0_2"], "answers": ["s0_3", "s1_3"]}]))
    new = polyvore_root(tmp_path / "new", {str(i): c for i, c in zip(range(4, 10), ["tops", "bottoms", "shoes"] * 2)},
                        [["7", "8", "9"], ["4", "5", "6"]])
    import_polyvore(ws, old)
    _consistent(ws)

    real_rows, real_json = common.replace_rows, common.atomic_write_json
    writes = {"n": 0, "kill_at": None}

    def counted(real):
        def write(*a, **kw):
            writes["n"] += 1
            if writes["n"] == writes["kill_at"]:
                raise Killed()
            return real(*a, **kw)
        return write

    monkeypatch.setattr(common, "replace_rows", counted(real_rows))
    monkeypatch.setattr(common, "atomic_write_json", counted(real_json))
    writes["kill_at"] = -1
    import_polyvore(ws, new)                       # count the writes of a full import
    total = writes["n"]
    assert total >= 6
    for kill_at in range(1, total + 1):
        writes["kill_at"] = -1
        import_polyvore(ws, old)                   # back to the old state
        writes.update(n=0, kill_at=kill_at)
        with pytest.raises(Killed):
            import_polyvore(ws, new)
        _consistent(ws)
        # killed before its first write (the pending marker), the import never started
        assert interrupted_imports(ws) == ([] if kill_at == 1 else ["polyvore"]), kill_at
    writes["kill_at"] = -1
    rep = import_polyvore(ws, new)
    assert any("interrupted" in n for n in rep.notes) and interrupted_imports(ws) == []
    _consistent(ws)
    assert set(read_catalogue(ws.catalogue_csv)["product_id"]) == {str(i) for i in range(4, 10)}


def test_path_problem_helper_is_shared_by_every_importer(tmp_path):
    """The new outfit-table importer gets the checks by calling the same helpers."""
    inside = jpg(tmp_path / "root" / "a.jpg")
    assert common.path_problem(inside, [tmp_path / "root"]) is None
    assert common.path_problem(tmp_path / "root" / ".." / "a.jpg", [tmp_path / "root"])[0] == OUTSIDE_FOLDER
    assert common.path_problem(tmp_path / ("n" * 256), [tmp_path])[0] == BAD_PATH
    assert common.normalise_id("  鞋-1 ") == "鞋-1" and common.id_problem("a/b") and not common.id_problem("鞋-1")
    assert os.fspath(common.path_id(Path("Tops/summer/tee 1"))) == "Tops-summer-tee-1"
