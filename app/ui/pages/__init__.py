"""The main window's pages, in the order of the flow: record, review, compose, sent; and history."""
