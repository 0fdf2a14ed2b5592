"""Live updates for the organisers' page: the read models' progress told to open streams
(feed.py), what changed for one event between two log positions (changes.py), and the stream of
Server-Sent Events built from them (stream.py). The route is registry.api.live."""
