"""The notebook document: reading, injecting, marking and writing it, and its offline HTML rendering."""
