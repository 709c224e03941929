"""Demo and benchmark data: generated raw reads and demo algorithm runs over them."""
