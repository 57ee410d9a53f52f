"""`python -m core.cli`: the same as the `aekl` script, for boxes where the
package is on PYTHONPATH but not installed."""

import sys

try:
    from core.cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI's modules were still importing
    print("aekl: error: interrupted", file=sys.stderr, flush=True)
    sys.exit(130)

main()
