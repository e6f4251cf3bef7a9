"""The command line: parses options, calls the library, hands results to report/."""
