"""`make generate`: write the files generated from the models into the checkout:
the CRDs, the admission policies (and the chart's copies), docs/reference.md and
Argo CD's argocd-cm entries (from the shipped Lua customizations).

The texts come from `deploymentgate.manifests` (pure builders); writing them
is a development step, so it lives here and not in the shipped package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from deploymentgate.manifests import argocd, crdgen, reference

# devkit/deploymentgate_devkit/generate.py -> repository root
ROOT = Path(__file__).resolve().parents[2]


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file of the checkout at `root`, by absolute path."""
    files: Mapping[PurePosixPath, str] = {
        **crdgen.generated_files(),
        reference.PAGE: reference.render(),
        argocd.CONFIG_MAP_FILE: argocd.config_map_patch(
            # The Lua files are sources of the checkout, not generated: read from ROOT.
            {s: (ROOT / argocd.CUSTOMIZATION / s).read_text() for s in argocd.scripts()}
        ),
    }
    return {root / relative: text for relative, text in files.items()}


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files that are missing or differ from what the models give."""
    return [p for p, text in generated(root).items() if not p.exists() or p.read_text() != text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make generate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"{path} is stale; run {crdgen.REGENERATE}", file=sys.stderr)
        return 1 if stale() else 0
    for path, text in generated().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
