"""Seesay's entry point: ``seesay`` opens the app; ``seesay ask|check`` is the command line."""

import multiprocessing
import sys

CLI_COMMANDS = ("ask", "check")


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a frozen app must not re-run itself in child processes
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in CLI_COMMANDS or (len(argv) > 1 and argv[0] == "--debug" and argv[1] in CLI_COMMANDS):
        from app.cli import main as cli_main

        return cli_main(argv)
    from app.desktop import run_desktop

    return run_desktop(argv)


if __name__ == "__main__":
    sys.exit(main())
