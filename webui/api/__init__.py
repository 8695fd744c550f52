"""The REST API, by part: routes (the handlers, errors, the gate), bodies (request schemas), audio
(formats, streaming pieces, tempo), queue (the line of jobs), stream (segments as HTTP chunks)."""
