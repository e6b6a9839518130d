"""The command line: argument parsing, subcommands, exit codes and the one error handler."""
