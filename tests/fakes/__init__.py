"""Fakes of external services, served over real sockets on 127.0.0.1."""

from tests.fakes.lastfm_server import FakeLastfm, FakeScrobble, RecordedRequest, make_scrobbles
from tests.fakes.listenbrainz_server import FakeListen, FakeListenBrainz, make_listens

__all__ = [
    "FakeLastfm",
    "FakeListen",
    "FakeListenBrainz",
    "FakeScrobble",
    "RecordedRequest",
    "make_listens",
    "make_scrobbles",
]
