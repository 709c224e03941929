"""Where the lake's bytes live and how they change: locations (local or s3://), durable file
operations, the layout of paths, block files, and the one commit step every write goes through."""
