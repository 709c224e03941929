"""The storage engine: deliveries are read and validated (delivery/), committed (storage/), and
read back as raw reads (raw/) and run output (runs/, output/), with the analyst views over one
snapshot (views)."""
