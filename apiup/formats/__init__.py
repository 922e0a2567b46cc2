"""Date and time formats, one per language (FORMAT_MODULE_PATH): every page shows a moment the
same way, and the short and long names of a format agree, so a template cannot pick a second
style by accident. Django's own locale formats cover the rest (input formats, numbers)."""
