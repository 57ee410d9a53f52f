"""`python -m core.cli`: the same as the `aekl` script, for boxes where the
package is on PYTHONPATH but not installed. (Its guards for the first
milliseconds start only once this package's __init__ has run; the script
itself starts in core.entry, before any of it.)"""

from core.entry import main

main()
