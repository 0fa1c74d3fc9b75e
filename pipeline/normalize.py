"""Artist-name normalization shared by storage, importers and the pipeline."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_SPACES = re.compile(r"\s+")


def artist_key(name: str) -> str:
    """Return the normalized key of an artist name (NFKC, casefold, collapsed whitespace)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()


def artist_keys(names: pd.Series) -> pd.Series:
    """Vectorized artist_key: normalizes each distinct name once."""
    import pandas as pd  # lazily: `breakout why` needs artist_key, not pandas

    codes, uniques = pd.factorize(names, use_na_sentinel=False)
    keys = pd.Index([artist_key(str(n)) for n in uniques], dtype=object)
    return pd.Series(keys.take(codes), index=names.index, name="artist_key", dtype=object)
