"""Artist metadata from Last.fm (and optionally Spotify): clients, parsing, the fetcher."""
