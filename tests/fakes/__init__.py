"""Fakes of external services, served over real sockets on 127.0.0.1."""

from tests.fakes.lastfm_server import FakeLastfm, FakeScrobble, RecordedRequest, make_scrobbles

__all__ = ["FakeLastfm", "FakeScrobble", "RecordedRequest", "make_scrobbles"]
