"""The command line: entry point, parser, option groups, help text, commands, console output."""
