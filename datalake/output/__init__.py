"""Reading published output: queries 2-4 over the output block files of the runs that answer."""
