"""The log's partitions and archived history (issue 10, item 3; docs/scaling.md, "The log").

partitions.py  partitions ahead (`registry log partitions`), and the list of them
archiver.py    `registry log archive --before POSITION --to DIR`: whole, final, sealed partitions
               into files in the export format (registry.audit.log_file), then detached
records.py     what log_archives holds about each archived range
files.py       reading an archive file back, checked against its record and the chain
store.py       an event store that reads archived positions from their files (rebuild, verify)
"""
