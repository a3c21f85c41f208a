"""The static site: building and publishing it, its pages, data files, charts, figure and server."""
