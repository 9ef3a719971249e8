"""Everything that knows the Tencent Cloud API 3.0 wire format, and nothing else does.

``signing`` (TC3-HMAC-SHA256 as pure functions), ``credentials``, ``endpoints``, ``transport``
(aiohttp, foreign exceptions mapped here), ``errors``, ``retry`` and ``client``.
"""
