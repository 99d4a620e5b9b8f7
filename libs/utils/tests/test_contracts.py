"""utils.contracts: the exporter's API token, read and checked once for
the three services that hold it (the window and rate contracts are
tested through the cleaner's settings)."""

import pytest

from utils.contracts import API_TOKEN_VARIABLE
from utils.contracts import api_token
from utils.contracts import bearer
from utils.contracts import check_api_token
from utils.errors import ConfigError


def test_the_token_comes_from_its_variable():
    token = "a-token-of-43-characters-like-run-sh-makes"
    assert api_token({API_TOKEN_VARIABLE: token}) == token
    assert bearer(token) == {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("token", ["", "short7!", None, b"bytes-token"])
def test_a_missing_or_short_token_is_refused_never_shown(token):
    environ = {} if token is None else {API_TOKEN_VARIABLE: token}
    with pytest.raises(ConfigError, match=API_TOKEN_VARIABLE) as caught:
        if isinstance(token, bytes):
            check_api_token(token)
        else:
            api_token(environ)
    if token:
        assert str(token) not in str(caught.value)
