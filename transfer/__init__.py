"""Import and export: the file formats citylinks reads and writes."""
