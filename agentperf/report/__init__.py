"""Renderers: the only layer (with ``cli``) that turns results into text.

One module per view or file format. Run-batch reports all render one redacted
document (``json_report.batch_document``); ``exporters`` opens and writes the files.
Nothing is imported here, so importing one renderer does not pull in the others.
"""
