"""The report (issue 22): stamped results files from the tiny demo workspace, a real-data workspace's extra tables,
and the README's generated blocks held to their files."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from ctl_core.cli import main
from ctl_core.config import PROJECT_ROOT, Workspace
from ctl_core.workflows.report import LABELS_CSV, ReportConfig, read_labels, run_report, table4_markdown
from ctl_core.workflows.results import (
    BODY_MARK,
    Stamp,
    readme_problems,
    result_body,
    sync_readme,
    write_result,
)

TINY = dict(demo_size=60, backbone="tiny-cnn", epochs=40, scene_epochs=1, duplicate_queries=8, readme=None)


def test_the_readme_quotes_only_what_its_results_files_hold():
    """Every generated block of README.md equals its results file's body, and every number in a quoted sentence is
    in its file: a README figure that no stamped file holds fails here."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- results: docs/results/" in readme            # the README does mark generated tables
    assert readme_problems(readme) == []


def test_readme_problems_catch_a_figure_the_file_does_not_hold(tmp_path):
    stamp = Stamp.now("python -m ctl_core report --quick").finish()
    write_result(tmp_path / "docs" / "results", "t", "T", "| a | b |\n|---|---:|\n| x | 79.8 |\n\n2,622 outfits.",
                 {"b": 79.8}, stamp)
    good = ("<!-- results: docs/results/t.md -->\n| a | b |\n|---|---:|\n| x | 79.8 |\n\n2,622 outfits.\n"
            "<!-- /results -->\nSo <!-- quote: docs/results/t.md -->2,622 outfits, 79.8<!-- /quote -->.")
    assert readme_problems(good, root=tmp_path) == []
    stale = good.replace("| x | 79.8 |", "| x | 84.4 |", 1)
    assert "differs from the file" in readme_problems(stale, root=tmp_path)[0]
    quoted = good.replace("2,622 outfits, 79.8<", "2,616 outfits, 79.8<")
    assert "quotes 2616" in readme_problems(quoted, root=tmp_path)[0]
    assert "no such results file" in readme_problems(good.replace("t.md", "u.md"), root=tmp_path)[0]
    readme = tmp_path / "README.md"                             # sync: the block takes the file's body again
    readme.write_text(stale)
    assert sync_readme(readme, root=tmp_path) == ["docs/results/t.md"]
    assert readme_problems(readme.read_text(), root=tmp_path) == []


def test_quick_report_writes_stamped_tables_from_the_demo_workspace(demo_ws_copy, tmp_path):
    import torch
    out = tmp_path / "results"
    cfg = ReportConfig(quick=True, out_dir=out, command="python -m ctl_core report --quick", threads=1, **TINY)
    before = torch.get_num_threads()
    try:
        done = run_report(demo_ws_copy, cfg, say=lambda m: None)
    finally:
        torch.set_num_threads(before)
    names = sorted(p.stem for p in done.written)
    assert names == ["build_demo", "cleanup_demo", "duplicates_demo", "fitb_file_demo", "scene_demo", "table4_demo"]
    for name in names:
        data = json.loads((out / f"{name}.json").read_text())
        stamp = data["stamp"]
        assert stamp["command"] == "python -m ctl_core report --quick" and len(stamp["commit"]) == 40
        assert stamp["machine"]["cores"] >= 1 and stamp["machine"]["gpu"]
        assert len(stamp["machine"]["load_average_1_5_15min"]["after"]) == 3
        assert stamp["machine"]["torch_threads"] == 1            # the count asked for, not the load's pick
        md = (out / f"{name}.md").read_text()
        assert stamp["commit"][:10] in md and BODY_MARK in md and "1 torch thread," in md
    t4 = json.loads((out / "table4_demo.json").read_text())["data"]
    evaluated = pd.read_csv(demo_ws_copy.eval_table_csv)
    assert t4["methods"] == [m for m in evaluated["method"] if m not in ("random", "visual")]  # whatever was trained
    body = result_body(out / "table4_demo.md")
    for _, row in evaluated.iterrows():                          # the file holds the evaluation's own figures
        assert f"{row['FITB'] * 100:.1f}" in body
    cleanup = json.loads((out / "cleanup_demo.json").read_text())["data"]
    assert f"{cleanup['outfits_out']} outfits" in result_body(out / "cleanup_demo.md").replace(",", "")
    dup = json.loads((out / "duplicates_demo.json").read_text())["data"]["counts"]
    assert dup["removed (default)"]["lists_with_variants"] == 0
    assert dup["removed (default)"]["lists_with_near_identical"] == 0
    assert not (out / "serving.json").exists()                  # --quick: no benchmark


def test_a_scripts_results_file_is_stamped_with_its_command_line(tmp_path):
    from ctl_core.workflows.results import Stamp, script_command, write_script_result
    cmd = script_command([str(PROJECT_ROOT / "scripts" / "check_slots.py"), "--n", "2000", "--results"])
    assert cmd == ".venv/bin/python scripts/check_slots.py --n 2000 --results"
    md = write_script_result("slots_x", "Slot rule on x", "```text\n0 of 10\n```", {"same_slot": 0},
                             Stamp.now(cmd), out_dir=tmp_path)
    data = json.loads((tmp_path / "slots_x.json").read_text())
    assert data["stamp"]["command"] == cmd and data["data"] == {"same_slot": 0}
    assert result_body(md).strip() == "```text\n0 of 10\n```" and "check_slots.py --n 2000" in md.read_text()


def test_the_build_table_puts_the_imports_wall_time_before_the_build_steps(tmp_path):
    from ctl_core.workflows.report import build_time_table
    ws = Workspace.at(tmp_path)
    ws.data_dir.mkdir(parents=True)
    assert build_time_table(ws) is None                                     # never built: nothing to show
    (ws.data_dir / "build_report.json").write_text(json.dumps({"steps": [
        {"step": "features", "seconds": 10.0, "ran": True}, {"step": "evaluate", "seconds": 2.5, "ran": False}],
        "peak_rss_mb": 2252.8, "torch_threads": 2}))
    text, data = build_time_table(ws)
    assert "| build total | 12.5 |" in text and "imports + build" not in text
    assert "peak memory of the build process 2.2 GB (RSS), 2 torch threads." in text
    (ws.data_dir / "import_outfits_report.json").write_text(json.dumps({"source": "outfits", "seconds": 4.0}))
    (ws.data_dir / "import_folder_report.json").write_text(json.dumps({"source": "folder"}))  # older: no time
    text, data = build_time_table(ws)
    assert text.index("| import outfits | 4.0 | yes |") < text.index("| features | 10.0 | yes |")
    assert "| evaluate | 2.5 | no (already there) |" in text and "| imports + build | 16.5 |" in text
    assert data["import_seconds"] == {"outfits": 4.0}


def test_table4_markdown_shows_every_metric_column_it_is_given():
    df = pd.DataFrame([{"method": "random", "R@10": 0.1, "FITB": 0.25, "new_metric": 0.5, "n_FITB": 10},
                       {"method": "outfit-model", "R@10": 0.4, "FITB": 0.8, "new_metric": 0.9, "n_FITB": 10}])
    md = table4_markdown(df)
    assert "| method | R@10 | FITB | FITB 95% CI | new_metric |" in md
    assert "| outfit-model | **40.0** | **80.0** | 49.0–94.3 | **90.0** |" in md  # Wilson, 8 of 10
    assert "10 FITB questions" in md


def test_real_workspace_tables_on_a_tiny_fixture(demo_ws_copy, tmp_path):
    """--real DIR on a built workspace with held-out labelled photos: category accuracy per category, and the
    product-shot check against a labels file (here: photos we drew, labelled by construction)."""
    from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
    from ctl_core.model.backbone import create_backbone
    from ctl_core.serving.product_shot import fit_person_detector
    from ctl_core.training.category_examples import is_held_out

    ws = demo_ws_copy
    cat = read_catalogue(ws.catalogue_csv)
    shots = cat[cat["is_product_shot"].astype(str).str.lower() == "true"].head(40).copy()
    shots["product_id"] = [f"photo-{i}" for i in range(len(shots))]
    write_table(shots, ws.category_examples_csv, CATALOGUE_COLUMNS)
    assert is_held_out(shots["product_id"]).any()
    labels = tmp_path / "labels.csv"
    labels.write_text("# labelled by construction in this test\nid,label\n"
                      + "".join(f"{p},product\n" for p in shots["product_id"][:20]))
    fit_person_detector(ws, create_backbone("tiny-cnn"))       # may find no worn photo: then no detector, no table
    real = tmp_path / "workspace-tiny"
    ws.root.rename(real)
    out = tmp_path / "results"
    cfg = ReportConfig(demo=False, real=(real,), out_dir=out, labels=labels, photos=tmp_path, **TINY)
    done = run_report(Workspace.at(tmp_path), cfg, say=lambda m: None)
    names = {p.stem for p in done.written}
    assert {"table4_tiny", "cleanup_tiny", "fitb_file_tiny", "duplicates_tiny", "categories_tiny"} <= names
    assert "product_shot_tiny" in names or "product_shot_tiny" in done.skipped
    cats = json.loads((out / "categories_tiny.json").read_text())["data"]
    assert cats["total"]["photos"] == int(is_held_out(shots["product_id"]).sum())
    rows = json.loads((out / "table4_tiny.json").read_text())["data"]["rows"]
    t4 = next(r for r in rows if r["method"] == cats["method"])
    assert cats["total"]["test_items"] == t4["n_category_acc"]                 # Table 4's own test items
    assert cats["total"]["test_items_acc"] == pytest.approx(t4["category_acc"])


def test_the_tuning_table_trains_each_setting_on_the_validation_split_only(demo_ws_copy, monkeypatch):
    from ctl_core.training import validation
    from ctl_core.workflows.report import tuning_table
    seen = []
    real = validation.validate

    def spy(ws, config, **kw):
        seen.append(config)
        return real(ws, config, **kw)
    monkeypatch.setattr(validation, "validate", spy)
    settings = (("paper, 2 epochs", {"recipe": "paper", "epochs": 2}),
                ("4 negatives, 2 epochs", {"recipe": "paper", "epochs": 2, "negatives_per_positive": 4}))
    from ctl_core.evaluation.protocol import EvalConfig
    small = validation.ValidationConfig(fraction=0.5, eval=EvalConfig(outfit_size=3))  # the tiny demo's outfits
    text, data = tuning_table(demo_ws_copy, ReportConfig(**TINY), settings=settings, validation=small)
    assert [c.negatives_per_positive for c in seen] == [1, 4] and all(c.epochs == 2 for c in seen)
    rows = data["settings"]
    assert [r["setting"] for r in rows] == ["paper, 2 epochs", "4 negatives, 2 epochs"]
    assert all(0 <= r["FITB"] <= 1 and r["n_fitb"] > 0 for r in rows)
    assert f"| paper, 2 epochs | {rows[0]['FITB'] * 100:.1f} |" in text and "The test split is not read" in text


def test_the_stored_product_shot_labels_say_who_labelled_them_and_how():
    header = [ln for ln in LABELS_CSV.read_text().splitlines() if ln.startswith("#")]
    assert any("labelled by" in ln.lower() for ln in header) and any("how" in ln.lower() for ln in header)
    labels = read_labels(LABELS_CSV)
    assert len(labels) >= 250 and labels["id"].is_unique
    assert set(labels["label"]) == {"worn", "product"}


def test_report_command_and_make_fitb_on_the_cli(demo_ws_copy, tmp_path, capsys):
    ws = str(demo_ws_copy.root)
    assert main(["--workspace", ws, "--quiet", "evaluate", "--make-fitb", str(tmp_path / "q.json"), "--seed", "3"]) == 0
    first = (tmp_path / "q.json").read_text()
    assert main(["--workspace", ws, "--quiet", "evaluate", "--make-fitb", str(tmp_path / "q2.json"),
                 "--seed", "3"]) == 0
    assert (tmp_path / "q2.json").read_text() == first                     # seeded: the same questions
    assert isinstance(json.loads(first), list)
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--quick" in capsys.readouterr().out
