"""Stand-in of Qonto's Business API (thirdparty.qonto.com) and its OAuth host (oauth.qonto.com),
served on one port with the same paths."""
