"""The HTTP routes, one controller per resource, each calling one engine function per answer."""
