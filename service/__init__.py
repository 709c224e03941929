"""The HTTP service (Litestar) and the Arrow Flight service over the engine: parameters, access,
problems, and the encoders of JSON, CSV and Arrow."""
