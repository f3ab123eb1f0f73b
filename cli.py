"""The command line: `python cli.py --help` (the installed `agentic` command is the same).

The commands live in agentic/cli/; this file is the entry point the design names.
"""

from agentic.cli import main

if __name__ == "__main__":
    main()
