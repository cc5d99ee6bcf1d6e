"""Generates the protocol stubs in symbatcher/v1/ from ../proto.

Run `python scripts/gen_proto.py` after changing a .proto file, or
`python scripts/gen_proto.py --check` to fail when the committed stubs differ
from what the protos generate (drift check, run by the tests).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
PROTO_ROOT = PACKAGE_ROOT.parent / "proto"
STUB_DIR = Path("symbatcher") / "v1"


def generate(out_root: Path) -> list[Path]:
    protos = sorted((PROTO_ROOT / "symbatcher" / "v1").glob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    stub_dir = out_root / STUB_DIR
    (stub_dir / "__init__.py").write_text('"""Generated protocol stubs (do not edit)."""\n')
    return sorted(p for p in stub_dir.iterdir() if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    args = parser.parse_args()
    if not args.check:
        generate(PACKAGE_ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = [
            p.name
            for p in fresh
            if not (PACKAGE_ROOT / STUB_DIR / p.name).exists()
            or not filecmp.cmp(p, PACKAGE_ROOT / STUB_DIR / p.name, shallow=False)
        ]
    if stale:
        print(f"stubs out of date: {', '.join(stale)}; run python scripts/gen_proto.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
