"""One adapter per Tencent product: list to the end, fetch details, act, normalise into Task."""
