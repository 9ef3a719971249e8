"""``taskwatch rehearse``: prediction, output, options and the large world."""
