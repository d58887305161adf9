"""Importers: bring a real source into the workspace tables (catalogue.csv, raw_boxes.csv, fitb.json).

Bad input never crashes an import and never disappears silently: malformed rows, bad ids, missing or unreadable
images, images outside the imported folder, boxes outside the image, unknown labels and duplicates are skipped and
counted by reason in an ``ImportReport`` (with up to 5 example messages per reason). Only a source that cannot be
read at all (no such folder, no metadata file, a file that is not UTF-8, a CSV without the required columns)
raises ``ImportDataError``, whose message says what is wrong — as does an import that would remove every product
of its source (``ImportWouldEmptyError``, unless ``replace=True``). How the several tables stay consistent when an
import is killed half-way: ``common``'s docstring.

Every import replaces the rows of its own source and keeps the rows of the others:
  * catalogue.csv rows are owned through the ``source`` column ("ctl-tsv" writes none, "polyvore", "folder");
  * raw_boxes.csv rows through the outfit id prefix ("ctl-" for the CTL release, "pv-" for Polyvore, "of-" for
    outfit tables);
  * fitb.json questions through their ``source`` field;
  * the source's own split through ``data/<name>_splits.json`` (honoured by ``dataset.build_dataset``).
Images are never copied: paths inside the workspace are stored relative to it, others absolute.
Run ``dataset.build_dataset`` afterwards to turn the raw boxes into items.csv.

Item ids in imported FITB questions follow ``dataset``'s rule: ``f"{outfit_id}-{k}"`` with ``k`` the box's
position among its outfit's rows in raw_boxes.csv, so questions can name items before cleanup runs;
``dataset.fitb_questions`` keeps the questions whose items all survived cleanup.

Modules: ``common`` (the report, skip reasons, category names, image checks, the source-replacement step shared
by every importer), one module per source: ``ctl_tsv``, ``polyvore``, ``folder``, ``outfits`` (outfit tables:
the Mango datathon layout or products.csv + outfits.csv).
"""
from __future__ import annotations

from ctl_core.data.importers.common import (
    BAD_ID,
    BAD_PATH,
    DUPLICATE,
    DUPLICATE_ID,
    FITB_MALFORMED,
    FITB_NO_ANSWER,
    FITB_UNMATCHED,
    IMAGE_EXTENSIONS,
    LABEL_SYNONYMS,
    MALFORMED,
    MAX_EXAMPLES,
    MISSING_IMAGE,
    NOT_AN_IMAGE,
    OUTFIT_PREFIX,
    OUTSIDE,
    OUTSIDE_FOLDER,
    SOURCE_CTL,
    SOURCE_FOLDER,
    SOURCE_OUTFITS,
    SOURCE_POLYVORE,
    SPLIT_FILE,
    UNKNOWN_ITEM,
    UNKNOWN_LABEL,
    UNREADABLE_IMAGE,
    ImportDataError,
    ImportReport,
    ImportWouldEmptyError,
    interrupted_imports,
    match_category,
)
from ctl_core.data.importers.ctl_tsv import BOX_TOLERANCE, import_ctl_tsv
from ctl_core.data.importers.folder import import_folder
from ctl_core.data.importers.outfits import import_outfits, type_category
from ctl_core.data.importers.polyvore import import_polyvore, polyvore_category

__all__ = [
    "BAD_ID", "BAD_PATH", "BOX_TOLERANCE", "DUPLICATE", "DUPLICATE_ID", "FITB_MALFORMED", "FITB_NO_ANSWER",
    "FITB_UNMATCHED", "IMAGE_EXTENSIONS", "LABEL_SYNONYMS", "MALFORMED", "MAX_EXAMPLES", "MISSING_IMAGE",
    "NOT_AN_IMAGE", "OUTFIT_PREFIX", "OUTSIDE", "OUTSIDE_FOLDER", "SOURCE_CTL", "SOURCE_FOLDER", "SOURCE_OUTFITS",
    "SOURCE_POLYVORE", "SPLIT_FILE", "UNKNOWN_ITEM", "UNKNOWN_LABEL", "UNREADABLE_IMAGE", "ImportDataError",
    "ImportReport", "ImportWouldEmptyError", "import_ctl_tsv", "import_folder", "import_outfits", "import_polyvore",
    "interrupted_imports", "match_category", "polyvore_category", "type_category",
]
