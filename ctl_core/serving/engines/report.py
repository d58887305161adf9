"""What one catalogue-inference run did: products computed and reused, images skipped by reason, time per stage,
throughput and the measured per-image costs (Ray engine)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ctl_core.data.importers.common import ImportReport


@dataclass
class InferenceReport:
    """One run of catalogue inference (or of the feature cache). ``bad`` counts skipped images by reason with a few
    examples each, as the importers' report does. ``stages_s``: wall seconds per stage, in order.
    ``per_image_ms``: mean cost of one image in ``decode``, ``preprocess`` and ``forward`` (Ray engine only)."""

    engine: str
    what: str
    products: int = 0
    computed: int = 0
    reused: int = 0
    bad: ImportReport = field(default_factory=lambda: ImportReport(source="catalogue images"))
    stages_s: dict[str, float] = field(default_factory=dict)
    per_image_ms: dict[str, float] = field(default_factory=dict)
    ray: dict = field(default_factory=dict)

    @property
    def skipped(self) -> dict[str, int]:
        return dict(self.bad.skipped)

    @property
    def images_per_s(self) -> float | None:
        """Images computed per second of the inference stage (Ray start-up excluded)."""
        t = self.stages_s.get("inference")
        return round(self.computed / t, 1) if t and self.computed else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bad"] = {"skipped": self.bad.skipped, "examples": self.bad.examples}
        d["images_per_s"] = self.images_per_s
        return d

    def __str__(self) -> str:
        lines = [f"{self.what} ({self.engine} engine): {self.products} products, {self.computed} computed, "
                 f"{self.reused} reused, {sum(self.bad.skipped.values())} skipped"]
        if self.images_per_s:
            lines.append(f"  throughput: {self.images_per_s} images/s (inference stage)")
        if self.stages_s:
            lines.append("  stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in self.stages_s.items()))
        if self.per_image_ms:
            lines.append("  per image (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in self.per_image_ms.items()))
        if self.ray:
            lines.append("  ray: " + ", ".join(f"{k}={v}" for k, v in self.ray.items()))
        for reason, n in sorted(self.bad.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  skipped {n} ({reason}), e.g. {self.bad.examples[reason][0]}")
        return "\n".join(lines)
