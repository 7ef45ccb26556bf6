import sys

from bot.cli import main

if __name__ == "__main__":  # render worker processes are spawned and re-import this module: do nothing then
    sys.exit(main())
