"""The run folder: its layout, the answer store, the candidate feed, and the resume policy."""
