"""python -m sandbox.scf_platform [--write-openapi]: run the simulator, or rewrite openapi.json."""

from __future__ import annotations

import argparse
import sys
import time

from .server import OPENAPI_PATH, ScfPlatform


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.scf_platform")
    parser.add_argument("--write-openapi", action="store_true", help=f"rewrite {OPENAPI_PATH.name} and exit")
    args = parser.parse_args(argv)
    platform = ScfPlatform(background_webhooks=False)
    if args.write_openapi:
        OPENAPI_PATH.write_text(platform.openapi_text())
        print(f"wrote {OPENAPI_PATH}")
        return 0
    with platform:
        print(f"SCF platform on {platform.url} (buyer key {platform.buyer_key}); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
