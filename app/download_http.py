"""Talk to the Hugging Face Hub for ``app.download``: the listing, file bytes, and what errors mean.

urllib, not huggingface_hub's HTTP client: the engine forces that client offline for the whole
process (``inference.locate.force_offline``) and that guard stays on; only this module, used only
when the user asks for the download, opens connections. huggingface_hub parses the listing.
Every failure becomes a ``DownloadError`` whose message tells the user what to do.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlparse

from huggingface_hub import constants as hf_constants
from huggingface_hub import get_token
from huggingface_hub.hf_api import ModelInfo

from inference.errors import SeesayError

TIMEOUT_S = 30


class DownloadError(SeesayError):
    """The download cannot start or go on; the message says why and what to do."""


class HubConnection:
    """An endpoint (huggingface.co unless told) and the user's token (else the saved one)."""

    def __init__(self, endpoint: str | None = None, token: str | None = None):
        self.endpoint = (endpoint or hf_constants.ENDPOINT).rstrip("/")
        self.token = token if token is not None else get_token()
        self.host = urlparse(self.endpoint).netloc or self.endpoint
        self._opener = urllib.request.build_opener(_AuthOnSameHostRedirects())

    def model_info(self, repo: str) -> ModelInfo:
        """The repo's commit and files with sizes and hashes (what ``HfApi.model_info`` reads)."""
        with self.open(f"{self.endpoint}/api/models/{repo}?blobs=true", repo) as response:
            try:
                return ModelInfo(**json.load(response))
            except (ValueError, TypeError, KeyError) as e:
                raise DownloadError(f"{self.host} sent a file list for {repo} that Seesay cannot read; "
                                    "try again later.") from e

    def open(self, url: str, repo: str, start: int = 0, method: str = "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": "seesay"})
        if start:
            request.add_header("Range", f"bytes={start}-")
        if self.token:  # not forwarded to another host on a redirect (the CDN refuses it)
            request.add_unredirected_header("Authorization", f"Bearer {self.token}")
        try:
            return self._opener.open(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as e:
            e.close()
            raise self.refused(e.code, repo) from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise self.unreachable() from e

    def read(self, response, size: int) -> bytes:
        """The next chunk of a body; a dropped connection reads as "cannot reach"."""
        try:
            return response.read(size)
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise self.unreachable() from e

    def unreachable(self) -> DownloadError:
        return DownloadError(f"Cannot reach {self.host}: check your internet connection and try again.")

    def refused(self, code: int, repo: str) -> DownloadError:
        page = f"{self.endpoint}/{repo}"
        if code in (401, 403):
            return DownloadError(
                f"{self.host} refused access to {repo} (HTTP {code}): the model is gated. Sign in on "
                f"{self.host}, accept the license on {page}, create an access token in your account "
                "settings, set it in Seesay's settings (or the HF_TOKEN environment variable), "
                "and try again."
            )
        if code == 404:
            return DownloadError(f"{repo} was not found on {self.host}: check the name; "
                                 "a private repository also needs an access token.")
        if code == 429:
            return DownloadError(f"{self.host} is getting too many requests: wait a few minutes and try again.")
        return DownloadError(f"{self.host} answered HTTP {code} for {repo}: try again later.")


class _AuthOnSameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Keep the token on a redirect within the Hub (a renamed repo), drop it for the CDN."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.unredirected_hdrs.get("Authorization")
        if new is not None and auth and urlparse(newurl).netloc == urlparse(req.full_url).netloc:
            new.add_unredirected_header("Authorization", auth)
        return new
