"""The verdict on one media request: may this URI be served, and which catalog file is it.

Steps, cheapest first (docs/MEDIA.md):

1. the original URI is exactly ``/media/tracks/<uuid>?token=<jws>`` (else 403; no token: 401);
2. the token is a media token signed with the media key, not expired (else 401);
3. it names the URI's track (else 403);
4. its session, speaker epoch and device are the user's current ones — one Redis round trip
   that also fetches the track's catalog path; on a miss (or a token newer than the cache)
   control answers from Postgres; when neither can answer the verdict is 403 (fail closed);
5. the catalog path is relative, ``..``-free and its real path stays inside the music root.

Nothing is cached between requests except catalog paths learnt from control (a track's path is
not what rotation revokes), so a speaker change bites on the very next request.
Refusals of validly signed tokens are reported to control, which counts them (suspicious use).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt as pyjwt
import structlog

from us_common.bus import media_track_key, session_cache_key
from us_common.jwt import DecodedTokens, TokenCodec, TokenError
from us_common.redis import REDIS_ERRORS, AnyRedis
from us_media.control import ControlClient, ControlUnavailable, SpeakerBinding
from us_media.paths import RefusedPath, resolve_in_root
from us_media.uri import BadMediaPath, BadMediaQuery, parse_media_uri

log = structlog.get_logger(__name__)

_BINDING_FIELDS = ("session_uuid", "media_epoch", "active_device_uuid")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``status`` is 200, 401 or 403 — the only answers nginx's auth_request understands."""

    status: int
    reason: str
    rel_path: str | None = None  # catalog path, relative to the music root (200 only)
    real_path: str | None = None  # resolved absolute path (200 only; for self-streaming)

    @property
    def allowed(self) -> bool:
        return self.status == 200


class BadClaims(ValueError):
    """A validly signed token without the claims a media token must carry."""


@dataclass(frozen=True, slots=True)
class MediaClaims:
    user_uuid: str
    session_uuid: str
    device_uuid: str
    track_uuid: str
    epoch: int


def _uuid_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise BadClaims(name)
    try:
        return str(UUID(value))
    except ValueError as exc:
        raise BadClaims(name) from exc


def media_claims(claims: dict[str, Any]) -> MediaClaims:
    epoch = claims.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise BadClaims("epoch")
    return MediaClaims(
        user_uuid=_uuid_claim(claims, "sub"),
        session_uuid=_uuid_claim(claims, "sid"),
        device_uuid=_uuid_claim(claims, "dev"),
        track_uuid=_uuid_claim(claims, "trk"),
        epoch=epoch,
    )


def _subject_of_expired(token: str) -> str | None:
    """The user of an expired token. PyJWT checks the signature before ``exp``, so "expired"
    means the signature was ours and the unverified payload can be trusted for counting."""
    try:
        sub = pyjwt.decode(token, options={"verify_signature": False}).get("sub")
        return str(UUID(str(sub)))
    except (pyjwt.PyJWTError, ValueError, AttributeError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _binding_from_redis(values: list[Any]) -> SpeakerBinding | None:
    session_uuid, epoch, device = (_text(v) for v in values)
    if not session_uuid or epoch is None:
        return None  # no cached session (expired, never written): a miss, not a refusal
    try:
        media_epoch = int(epoch)
    except ValueError:
        return None
    return SpeakerBinding(
        session_uuid=session_uuid, media_epoch=media_epoch, active_device_uuid=device or None
    )


class MediaVerifier:
    def __init__(
        self,
        codec: TokenCodec,
        redis: AnyRedis,
        control: ControlClient,
        music_root: Path,
        path_cache_ttl_s: float,
    ) -> None:
        self._codec = codec
        self._redis = redis
        self._control = control
        self._music_root = music_root
        self._path_ttl_s = path_cache_ttl_s
        # (user, track) -> (monotonic deadline, catalog path); only answers learnt from control.
        self._paths: dict[tuple[str, str], tuple[float, str]] = {}
        # token -> (claims, exp): see _decode.
        self._tokens = DecodedTokens(self._codec)

    async def verify(self, raw_uri: str | None) -> Verdict:
        """Never raises: any failure is a refusal (fail closed)."""
        try:
            return await self._verify(raw_uri)
        except Exception as exc:  # noqa: BLE001 - nginx turns anything but 2xx/401/403 into a 500
            log.error("media_verify_failed", error_type=type(exc).__name__)
            return Verdict(403, "internal_error")

    async def _verify(self, raw_uri: str | None) -> Verdict:
        if not raw_uri:
            return self._refuse(403, "no_original_uri")
        try:
            target = parse_media_uri(raw_uri)
        except BadMediaPath:
            return self._refuse(403, "bad_path")
        except BadMediaQuery as exc:
            return self._refuse(401, f"token_{exc}")
        try:
            claims = self._decode(target.token)
        except TokenError as exc:
            user = _subject_of_expired(target.token) if exc.reason == "expired" else None
            return self._refuse(401, f"token_{exc.reason}", user)
        except BadClaims:
            return self._refuse(401, "token_claims")
        user = claims.user_uuid
        if claims.track_uuid != target.track_uuid:
            return self._refuse(403, "other_track", user, report=True)

        binding, rel_path = await self._read_cache(user, claims.track_uuid)
        if binding is None or (binding.media_epoch is not None and claims.epoch > binding.media_epoch):
            # A miss, or a token newer than the cache (a publish still on its way): ask Postgres.
            try:
                binding = await self._control.speaker_binding(user)
            except ControlUnavailable:
                return self._refuse(403, "state_unavailable", user)
            if binding is None:
                return self._refuse(403, "unknown_user", user)
        if claims.session_uuid != binding.session_uuid:
            return self._refuse(403, "other_session", user, report=True)
        if claims.epoch != binding.media_epoch:
            return self._refuse(403, "rotated", user, report=True)
        if claims.device_uuid != binding.active_device_uuid:
            return self._refuse(403, "other_device", user, report=True)

        if rel_path is None:
            try:
                rel_path = await self._path_from_control(user, claims.track_uuid)
            except ControlUnavailable:
                return self._refuse(403, "catalog_unavailable", user)
            except RefusedPath as exc:
                return self._refuse(403, exc.reason, user)
        try:
            real_path = resolve_in_root(self._music_root, rel_path)
        except RefusedPath as exc:
            return self._refuse(403, exc.reason, user)
        return Verdict(200, "ok", rel_path=rel_path, real_path=real_path)

    def _decode(self, token: str) -> MediaClaims:
        """Signature and claims checked once per token and worker, expiry on every request
        (``DecodedTokens``); the binding (epoch, speaker) is still read on every request."""
        return media_claims(self._tokens.decode(token))

    async def _read_cache(self, user_uuid: str, track_uuid: str) -> tuple[SpeakerBinding | None, str | None]:
        """The cached binding and catalog path in one round trip; (None, None) when Redis fails."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(session_cache_key(user_uuid), list(_BINDING_FIELDS))
            pipe.get(media_track_key(user_uuid, track_uuid))
            session_values, path_value = await pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("media_cache_read_failed", error_type=type(exc).__name__)
            return None, None
        return _binding_from_redis(session_values), _text(path_value)

    async def _path_from_control(self, user_uuid: str, track_uuid: str) -> str:
        key = (user_uuid, track_uuid)
        now = time.monotonic()
        cached = self._paths.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        grant = await self._control.track_grant(user_uuid, track_uuid)
        if grant is None:
            raise RefusedPath("track_not_visible")
        if not grant.available:
            raise RefusedPath("track_unavailable")
        if len(self._paths) > 10_000:
            self._paths = {k: v for k, v in self._paths.items() if v[0] > now}
        if self._path_ttl_s > 0:
            self._paths[key] = (now + self._path_ttl_s, grant.rel_path)
        return grant.rel_path

    def _refuse(
        self, status: int, reason: str, user_uuid: str | None = None, report: bool = False
    ) -> Verdict:
        # Never the token or the path: the reason and whose token it was.
        log.info("media_refused", status=status, reason=reason, user_uuid=user_uuid)
        if user_uuid is not None and (report or reason == "token_expired"):
            self._control.report_refusal(user_uuid, reason)
        return Verdict(status, reason)
