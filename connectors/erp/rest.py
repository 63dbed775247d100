"""A generic REST/OData ERP connector driven by a YAML definition (see connectors/erp/definitions.py).

``RestConnector(definition, credentials).fetch(entity, since)`` pages through one entity and yields
``ApiRecord`` objects; ``writeback(call, **values)`` sends one of the definition's write calls.

Requests go through one ``requests.Session`` with connect/read timeouts. Connection errors,
timeouts and 5xx answers are retried with exponential backoff and jitter (``retry.attempts``).
Rate limits are waited out: a 429 (or a 503 with ``Retry-After``) waits what the ERP asks, from
``Retry-After`` (seconds or an HTTP date) or the reset time of a spent ``rate_limits`` window
(``X-RateLimit-*`` headers, which are also honoured before the next call when a window is at 0).
One wait may take up to ``retry.retry_after_max`` seconds and one call up to
``retry.rate_limit_budget`` seconds of waiting in all; beyond that the call fails with an error that
names it and the wait. Errors name the system, entity, method, URL path and status, never a
credential: the query string is left out and known secrets are masked. ``sleep`` and ``clock`` are
injectable, so tests see the waits asked for without waiting.

Decimals in responses are kept as their JSON text, so amounts never pass through float.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from connectors.erp.base import ApiRecord, ErpError
from connectors.erp.definitions import load_definition, record_id_values, validate_definition, writeback_needs
from ledgerlink.errors import ConfigError
from ledgerlink.mapping.sources import json_get as mapping_json_get

SECRET_KEYS = frozenset({"token", "password", "api_key", "client_secret", "access_token", "refresh_token"})

DEFAULTS: dict[str, Any] = {
    "timeout": 30.0,
    "page_size": 100,
    "headers": {},
    "query": {},
    "dates": "iso",
    "retry": {"attempts": 5, "backoff_initial": 1.0, "backoff_max": 30.0, "retry_after_max": 120.0,
              "rate_limit_budget": 300.0},
    "rate_limits": [],
}
MAX_RATE_LIMITED = 50  # rate-limited answers to one call, whatever they ask to wait

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ODATA_V2_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_COMPACT_TIME = re.compile(r"^(\d{14})(?:\.(\d{1,7}))?$")  # SAP's YYYYMMDDhhmmss[.fffffff] (UTC)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})


class _Transient(Exception):
    """A failure worth another try (connection, timeout, 5xx)."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _RateLimited(Exception):
    """A 429 (or 503 with Retry-After): wait ``retry_after`` seconds (None: not said) and try again."""

    def __init__(self, reason: str, status: int, retry_after: float | None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _merge(base: dict[str, Any], over: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def json_get(node: Any, path: str | None) -> Any:
    """Value at a dotted path (`d.results`, `links.next`, `lines.0.amount`), read as mapping files
    read JSON paths; None when absent, the node itself for no path."""
    return node if not path else mapping_json_get(node, path)


def flatten_record(data: Any, prefix: str = "") -> dict[str, str]:
    """A record as mapping rows hold it: dotted JSON path -> text (`Contact.ContactID`, `lines.0.amount`),
    for ``Mapping.map_rows([(row, location, flatten_record(record.data)), ...])``."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        if data is not None:
            out[prefix] = ("true" if data else "false") if isinstance(data, bool) else str(data)
        return out
    for key, value in items:
        out.update(flatten_record(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 (with Z, offset or naive = UTC), OData v2 `/Date(ms)/` or SAP's UTC text form
    `YYYYMMDDhhmmss[.fffffff]` as an aware UTC datetime."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    m = _ODATA_V2_DATE.match(text)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    m = _COMPACT_TIME.match(text)
    if m:
        try:
            dt = datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
        except ValueError:
            return None
        return dt.replace(microsecond=int((m.group(2) or "0").ljust(6, "0")[:6]), tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_timestamp(dt: datetime) -> str:
    """The cursor form of a timestamp: UTC, millisecond precision, so that text order is time order."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _odata_v2_dates(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _odata_v2_dates(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_odata_v2_dates(v) for v in node]
    if isinstance(node, str) and _ODATA_V2_DATE.match(node):
        dt = parse_timestamp(node)
        assert dt is not None
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt.microsecond == 0 else format_timestamp(dt)
    return node


def _fill(text: str, values: Mapping[str, Any]) -> str:
    return _FIELD.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def _render(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _FIELD.fullmatch(template)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return _fill(template, values)
    if isinstance(template, dict):
        return {k: _render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, values) for v in template]
    return template


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait per a Retry-After header (seconds or an HTTP date; ``now``: epoch seconds)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _reset_time(value: str | None, unit: str, now: float) -> float | None:
    """A rate-limit window's reset header as epoch seconds (``unit``: epoch_ms, epoch_s or seconds)."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if unit == "epoch_ms":
        return number / 1000
    if unit == "epoch_s":
        return number
    return now + number


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RestConnector:
    """A RecordSource for one ERP described by a connector definition.

    ``credentials`` holds the connection's values: secrets (`token`, `username`/`password`,
    `api_key`, `client_id`/`client_secret`) and the `${VAR}`s of the definition (host, tenant...).
    ``settings`` overrides the definition's `defaults` (e.g. shorter backoff in tests). ``sleep`` waits
    and ``clock`` (epoch seconds) tells the time rate-limit resets are measured against.
    """

    def __init__(self, definition: Mapping[str, Any] | str | Path, credentials: Mapping[str, Any] | None = None,
                 *, settings: Mapping[str, Any] | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        if isinstance(definition, str | Path):
            definition = load_definition(definition)
        else:
            definition = validate_definition(dict(definition), f"<{definition.get('name', 'definition')}>")
        self.definition: dict[str, Any] = dict(definition)
        self.name: str = self.definition["name"]
        self._creds = {k: v for k, v in (credentials or {}).items() if v is not None}
        self._secrets = {str(v) for k, v in self._creds.items() if k in SECRET_KEYS and len(str(v)) >= 4}
        self.settings = _merge(_merge(DEFAULTS, self.definition.get("defaults")), settings)
        self.base_url = self._expand(self.definition["base_url"]).rstrip("/")
        self._origin = self._origin_of(self.base_url)
        self._auth = self.definition["auth"]
        self._token: str | None = None
        self._token_expires = 0.0
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._blocked: tuple[float, str] | None = None  # a spent rate-limit window: (reset time, why)

    # --- public ---------------------------------------------------------------------------

    @property
    def entities(self) -> list[str]:
        return list(self.definition["entities"])

    def fetch(self, entity: str, since: str | None = None) -> Iterator[ApiRecord]:
        """Every record of `entity` changed at or after `since` (None: all), page by page."""
        ent = self._entity(entity)
        since_dt = parse_timestamp(since) if since else None
        if since and since_dt is None:
            raise ErpError(f"{self.name}: {entity}: cursor {since!r} is not an ISO 8601 timestamp")
        since_key = format_timestamp(since_dt) if since_dt else None
        dates = ent.get("dates", self.settings["dates"])
        id_fields = ent["id_field"] if isinstance(ent["id_field"], list) else [ent["id_field"]]
        cursor_field = ent.get("cursor_field")
        seen: set[tuple[str, str]] = set()
        for raw in self._records(entity, ent, since_dt):
            rec = self._detail(entity, ent, raw) if "detail" in ent else raw
            if dates == "odata_v2":
                rec = _odata_v2_dates(rec)
            ids = [json_get(rec, f) for f in id_fields]
            if any(v is None or v == "" for v in ids):
                raise ErpError(f"{self.name}: {entity}: a record has no {'/'.join(id_fields)}")
            rec_id = "/".join(str(v) for v in ids)
            updated_at = ""
            if cursor_field:
                value = json_get(rec, cursor_field)
                dt = parse_timestamp(value)
                updated_at = format_timestamp(dt) if dt else ("" if value is None else str(value))
            # some filters are coarser than the cursor (whole days, If-Modified-Since)
            if since_key and updated_at and updated_at < since_key:
                continue
            if (rec_id, updated_at) in seen:
                continue
            seen.add((rec_id, updated_at))
            yield ApiRecord(id=rec_id, updated_at=updated_at, data=rec, source=f"{self.name}:{entity}")

    def writeback(self, call: str, *, idempotency_key: str | None = None, **values: Any) -> Any:
        """Send the definition's write call `call`; returns the parsed JSON answer (None when empty).

        A call with `read` first GETs the record and takes the values it names from it (a QuickBooks
        SyncToken, an Oracle invoice's number and business unit). ``idempotency_key`` goes into the
        call's `idempotency_header` when it has one; such a call, an `idempotent` one and PUT, PATCH and
        DELETE are retried like reads. Any other call is sent once: no answer raises an ErpError with
        ``outcome_unknown`` (it may have been applied), a 5xx one with its status."""
        missing = sorted(n for n in writeback_needs(self.definition, call) if n not in values)
        spec = self.definition["writeback"][call]
        label = f"writeback {call}"
        read = spec.get("read") or {}
        if missing:
            raise ConfigError(f"{self.name}: writeback {call}: missing values: {', '.join(missing)}")
        values = dict(values)
        if read:
            url = self.base_url + self._fill_path(read["path"], values)
            defaults = {k: self._expand(str(v)) for k, v in self.settings["query"].items()}
            headers = {k: self._expand(str(v)) for k, v in self.settings["headers"].items()}
            current = self._json(self._request("GET", url, label, params=defaults, headers=headers), label, url)
            for name, path in read["values"].items():
                found = json_get(current, path)
                if found in (None, ""):
                    raise ErpError(f"{self.name}: {label}: GET {urlsplit(url).path}: the record has no {path}")
                values[name] = found
        url = self.base_url + self._fill_path(spec["path"], values)
        headers = {k: _fill(self._expand(str(v)), values)
                   for k, v in {**self.settings["headers"], **(spec.get("headers") or {})}.items()}
        params = {k: _fill(self._expand(str(v)), values)
                  for k, v in {**self.settings["query"], **(spec.get("query") or {})}.items()}
        if "csrf" in spec:
            token_resp = self._request("GET", self.base_url + self._expand(spec["csrf"]["path"]), label,
                                       headers={**headers, "X-CSRF-Token": "Fetch"})
            csrf = token_resp.headers.get("X-CSRF-Token")
            if not csrf:
                raise ErpError(f"{self.name}: {label}: no X-CSRF-Token in the answer to the token fetch")
            self._secrets.add(csrf)
            headers["X-CSRF-Token"] = csrf
        keyed = bool(spec.get("idempotency_header") and idempotency_key)
        if keyed:
            headers[spec["idempotency_header"]] = str(idempotency_key)
        body = None
        if "body" in spec:
            body = json.dumps(_render(spec["body"], values), ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", spec.get("content_type", "application/json"))
        repeatable = spec["method"] in _IDEMPOTENT or bool(spec.get("idempotent")) or keyed
        resp = self._request(spec["method"], url, label, params=params, headers=headers, data=body,
                             idempotent=repeatable)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def id_values(self, entity: str, record_id: str) -> dict[str, str]:
        """A record id as fetch() gives it, split into the entity's id fields (see record_id_values)."""
        return record_id_values(self.definition, entity, record_id)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RestConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- definition helpers ---------------------------------------------------------------

    def _entity(self, entity: str) -> dict[str, Any]:
        try:
            return self.definition["entities"][entity]
        except KeyError:
            raise ConfigError(f"{self.name}: no entity {entity!r} (known: {', '.join(self.entities)})") from None

    def _expand(self, text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in self._creds:
                return str(self._creds[var])
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            raise ConfigError(f"{self.name}: ${{{var}}} is set neither in the connection nor in the environment")
        return _ENV_VAR.sub(sub, text)

    def _fill_path(self, template: str, values: Mapping[str, Any]) -> str:
        return _FIELD.sub(lambda m: quote(str(values[m.group(1)]), safe="'()=,"), self._expand(template))

    @staticmethod
    def _origin_of(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()

    # --- paging ---------------------------------------------------------------------------

    def _records(self, entity: str, ent: dict[str, Any], since: datetime | None) -> Iterator[Any]:
        pag = ent["pagination"]
        kind = pag["type"]
        page_size = int(ent.get("page_size", self.settings["page_size"]))
        url = self.base_url + self._expand(ent["path"])
        method = ent.get("method", "GET")
        query = {k: self._expand(str(v)) for k, v in {**self.settings["query"], **(ent.get("query") or {})}.items()}
        headers = {k: self._expand(str(v)) for k, v in {**self.settings["headers"], **(ent.get("headers") or {})}.items()}
        values: dict[str, Any] = {"limit": page_size, "filter": ""}
        inc = ent.get("incremental")
        if since is not None and inc:
            values["since"] = since.strftime(inc.get("since_format", "%Y-%m-%dT%H:%M:%SZ"))
            clause = _fill(inc["template"], values)
            if inc["in"] == "template":
                values["filter"] = clause
            elif inc["in"] == "header":
                headers[inc["name"]] = clause
            else:
                existing = query.get(inc["name"])
                query[inc["name"]] = f"{existing}{inc.get('join', ' and ')}{clause}" if existing else clause
        if kind == "odata" and pag.get("max_page_size_header"):
            headers["Prefer"] = f"odata.maxpagesize={page_size}"
        uses = {name for v in query.values() for name in _FIELD.findall(v)}

        def params_for(**state: Any) -> dict[str, str]:
            return {k: _fill(v, {**values, **state}) for k, v in query.items()}

        def get(page_url: str, params: dict[str, str] | None) -> tuple[Any, requests.Response]:
            resp = self._request(method, page_url, entity, params=params, headers=headers)
            return self._json(resp, entity, page_url), resp

        if kind == "none":
            page, _ = get(url, params_for())
            yield from self._page_records(entity, ent, page)
        elif kind == "page":
            number = int(pag.get("first_page", 1))
            page_param = pag.get("page_param", "page")
            while True:
                params = params_for(page=number)
                if "page" not in uses:
                    params[page_param] = str(number)
                if pag.get("size_param"):
                    params[pag["size_param"]] = str(page_size)
                page, _ = get(url, params)
                records = self._page_records(entity, ent, page)
                yield from records
                if len(records) < page_size:
                    return
                number += 1
        elif kind == "offset":
            offset = int(pag.get("first_offset", 0))
            while True:
                params = params_for(offset=offset)
                if pag.get("offset_param"):
                    params[pag["offset_param"]] = str(offset)
                if pag.get("limit_param"):
                    params[pag["limit_param"]] = str(page_size)
                page, _ = get(url, params)
                records = self._page_records(entity, ent, page)
                yield from records
                has_more = json_get(page, pag["has_more_path"]) if pag.get("has_more_path") else None
                if not records or has_more is False or str(has_more).lower() == "false":
                    return
                if has_more is None and len(records) < page_size:
                    return
                offset += len(records)
        elif kind == "cursor":
            params = params_for()
            if pag.get("size_param"):
                params[pag["size_param"]] = str(page_size)
            while True:
                page, _ = get(url, params)
                yield from self._page_records(entity, ent, page)
                cursor = json_get(page, pag["cursor_path"])
                if cursor in (None, ""):
                    return
                params = {**params, pag["cursor_param"]: str(cursor)}
        else:  # next_link, odata
            params = params_for()
            if kind == "next_link" and pag.get("limit_param"):
                params[pag["limit_param"]] = str(page_size)
            page_url: str | None = url
            visited: set[str] = set()
            while page_url:
                page, resp = get(page_url, params)
                yield from self._page_records(entity, ent, page)
                nxt = self._next_link(pag, page, resp)
                if not nxt:
                    return
                nxt = urljoin(page_url, nxt)
                if self._origin_of(nxt) != self._origin:
                    raise ErpError(f"{self.name}: {entity}: next page link points to another host "
                                   f"({urlsplit(nxt).netloc}); not following it with our credentials")
                if nxt in visited:
                    raise ErpError(f"{self.name}: {entity}: next page link repeats {urlsplit(nxt).path}")
                visited.add(nxt)
                page_url, params = nxt, None

    def _next_link(self, pag: dict[str, Any], page: Any, resp: requests.Response) -> str | None:
        if pag["type"] == "odata":
            if not isinstance(page, dict):
                return None
            # v4 puts the link beside `value` under a key with a dot in it; v2 in `d.__next`
            found = page.get("@odata.nextLink") or page.get("odata.nextLink") or page.get("__next")
            found = found or json_get(page, "d.__next")
            return str(found) if found else None
        rel = pag.get("rel", "next")
        if not pag.get("next_path"):
            return resp.links.get(rel, {}).get("url")
        found = json_get(page, pag["next_path"])
        if isinstance(found, list):
            for link in found:
                if isinstance(link, dict) and link.get("rel") == rel:
                    return link.get("href")
            return None
        return str(found) if found else None

    def _page_records(self, entity: str, ent: dict[str, Any], page: Any) -> list[Any]:
        path = ent.get("record_path", "")
        records = json_get(page, path)
        if records is None and isinstance(page, dict):
            return []  # e.g. QuickBooks leaves the list out of an empty page
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise ErpError(f"{self.name}: {entity}: record_path {path!r} does not lead to a list of records")
        return records

    def _detail(self, entity: str, ent: dict[str, Any], listed: Any) -> Any:
        ids = ent["id_field"] if isinstance(ent["id_field"], list) else [ent["id_field"]]
        rec_id = json_get(listed, ids[0])
        path = self._expand(ent["detail"]["path"]).replace("{id}", quote(str(rec_id), safe=""))
        params = {k: self._expand(str(v)) for k, v in (ent["detail"].get("query") or {}).items()}
        url = self.base_url + path
        return self._json(self._request("GET", url, entity, params=params), entity, url)

    def _json(self, resp: requests.Response, entity: str, url: str) -> Any:
        try:
            return json.loads(resp.content.decode(resp.encoding or "utf-8"), parse_float=str)
        except (ValueError, UnicodeDecodeError):
            raise ErpError(f"{self.name}: {entity}: GET {urlsplit(url).path}: answer is not JSON "
                           f"(Content-Type {resp.headers.get('Content-Type', 'none')})") from None

    # --- HTTP -----------------------------------------------------------------------------

    def _request(self, method: str, url: str, entity: str, *, params: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None, data: bytes | None = None,
                 idempotent: bool = True) -> requests.Response:
        retry = self.settings["retry"]
        attempts = int(retry.get("attempts", 5))
        where = f"{self.name}: {entity}: {method} {urlsplit(url).path}"
        failures = limited = 0
        waited = 0.0
        while True:
            if self._blocked is not None:  # a window the last answer said is spent
                until, why = self._blocked
                self._blocked = None
                if until > self._clock():
                    waited += self._rate_wait(where, until - self._clock(), waited, why)
            try:
                return self._send(method, url, where, params=params, headers=headers, data=data,
                                  idempotent=idempotent)
            except _RateLimited as exc:
                limited += 1
                wait, why = exc.retry_after, exc.reason
                if wait is None and self._blocked is not None:
                    until, window = self._blocked
                    wait, why = max(0.0, until - self._clock()), f"{why}, {window}"
                self._blocked = None
                if limited > MAX_RATE_LIMITED:
                    raise ErpError(self._scrub(f"{where}: still rate limited after {limited - 1} waits: {why}"),
                                   status=exc.status, retry_after=wait) from None
                waited += self._rate_wait(where, self._backoff(limited) if wait is None else wait, waited, why,
                                          status=exc.status)
            except _Transient as exc:
                failures += 1
                if failures >= attempts:
                    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
                    raise ErpError(self._scrub(f"{where} failed after {tries}: {exc.reason}"),
                                   status=exc.status) from None
                self._sleep(self._backoff(failures))

    def _backoff(self, n: int) -> float:
        """The wait before try n + 1: exponential from backoff_initial, capped, plus random jitter."""
        retry = self.settings["retry"]
        initial = float(retry.get("backoff_initial", 1.0))
        wait = min(float(retry.get("backoff_max", 30.0)), initial * 2 ** (n - 1))
        return wait + random.uniform(0, float(retry.get("jitter", initial)))  # noqa: S311 (not for secrets)

    def _rate_wait(self, where: str, wait: float, waited: float, why: str, *, status: int | None = None) -> float:
        """Wait out a rate limit, or fail when the wait is longer than one wait or the call's budget may take."""
        retry = self.settings["retry"]
        cap = float(retry.get("retry_after_max", 120.0))
        budget = float(retry.get("rate_limit_budget", 300.0))
        wait = max(0.0, wait)
        if wait > cap:
            raise ErpError(self._scrub(f"{where}: {why}: the API asks to wait {wait:.0f} s (until "
                                       f"{_when(self._clock() + wait)}), more than retry_after_max ({cap:g} s); "
                                       "not waiting"), status=status, retry_after=wait)
        if waited + wait > budget:
            raise ErpError(self._scrub(f"{where}: {why}: still rate limited after waiting {waited:.0f} s; another "
                                       f"{wait:.0f} s would pass the rate-limit budget ({budget:g} s)"),
                           status=status, retry_after=wait)
        self._sleep(wait)
        return wait

    def _note_rate_limits(self, resp: requests.Response) -> None:
        """Remember the latest reset of a rate-limit window the answer says is spent (remaining 0)."""
        now = self._clock()
        spent = []
        for window in self.settings.get("rate_limits") or []:
            try:
                remaining = float(resp.headers.get(window["remaining"], ""))
            except ValueError:
                continue
            reset = _reset_time(resp.headers.get(window["reset"]), window.get("reset_unit", "epoch_ms"), now)
            if remaining <= 0 and reset is not None:
                spent.append((reset, f"rate limit spent ({window['remaining']}: 0 until {_when(reset)})"))
        self._blocked = max(spent) if spent else None

    def _send(self, method: str, url: str, where: str, *, params: Mapping[str, str] | None,
              headers: Mapping[str, str] | None, data: bytes | None, idempotent: bool) -> requests.Response:
        timeout = float(self.settings["timeout"])
        refreshed = False
        while True:
            h = {"Accept": "application/json", **(headers or {})}
            p = dict(params or {})
            auth = self._apply_auth(h, p, where)
            try:
                resp = self._session.request(method, url, params=p or None, headers=h, data=data, auth=auth,
                                             timeout=(timeout, timeout), allow_redirects=False)
            except requests.ConnectTimeout:
                raise _Transient(f"no connection within {timeout:g}s") from None
            except requests.Timeout:
                if not idempotent:
                    raise ErpError(f"{where}: no answer within {timeout:g}s; not repeated (the call "
                                   "may have been applied)", outcome_unknown=True) from None
                raise _Transient(f"no answer within {timeout:g}s") from None
            except requests.ConnectionError as exc:
                if not idempotent:
                    raise ErpError(f"{where}: connection failed ({type(exc).__name__}); not repeated (the call "
                                   "may have been applied)", outcome_unknown=True) from None
                raise _Transient(f"connection failed ({type(exc).__name__})") from None
            self._note_rate_limits(resp)
            status = resp.status_code
            if status == 401 and self._auth["type"] == "oauth2_client_credentials" and not refreshed:
                self._token = None  # expired or revoked early: one new token, one more try
                refreshed = True
                continue
            if status == 429 or (status == 503 and "Retry-After" in resp.headers):
                raise _RateLimited(f"HTTP {status} (rate limited)", status,
                                   _retry_after_seconds(resp.headers.get("Retry-After"), self._clock()))
            if status >= 500 and idempotent:
                raise _Transient(f"HTTP {status}{self._detail_text(resp)}", status)
            if status == 504:  # a gateway gave up waiting for the ERP, which may have applied the call
                raise ErpError(self._scrub(f"{where}: HTTP 504{self._detail_text(resp)}; not repeated (the call "
                                           "may have been applied)"), status=status, outcome_unknown=True)
            if status >= 400 or 300 <= status < 400:
                raise ErpError(self._scrub(f"{where} failed: HTTP {status}{self._detail_text(resp)}"), status=status)
            return resp

    def _detail_text(self, resp: requests.Response) -> str:
        text = (resp.text or "").strip().replace("\n", " ")
        if not text:
            return ""
        return ": " + self._scrub(text[:200] + ("..." if len(text) > 200 else ""))

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # --- auth -----------------------------------------------------------------------------

    def _cred(self, key: str, where: str) -> str:
        value = self._creds.get(key)
        if value in (None, ""):
            raise ConfigError(f"{where}: the connection has no {key!r} for {self._auth['type']} authentication")
        return str(value)

    def _apply_auth(self, headers: dict[str, str], params: dict[str, str], where: str) -> tuple[str, str] | None:
        kind = self._auth["type"]
        if kind == "basic":
            return self._cred("username", where), self._cred("password", where)
        if kind == "bearer":
            headers["Authorization"] = f"Bearer {self._cred(self._auth.get('token_key', 'token'), where)}"
        elif kind == "api_key":
            key = self._cred("api_key", where)
            if self._auth.get("in", "header") == "query":
                params[self._auth["name"]] = key
            else:
                headers[self._auth["name"]] = f"{self._auth.get('prefix', '')}{key}"
        else:
            headers["Authorization"] = f"Bearer {self._access_token(where)}"
        return None

    def _access_token(self, where: str) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        token_url = self._expand(self._auth["token_url"])
        form = {"grant_type": "client_credentials"}
        if self._auth.get("scopes"):
            form["scope"] = " ".join(self._auth["scopes"])
        client_id, secret = self._cred("client_id", where), self._cred("client_secret", where)
        auth = None
        if self._auth.get("client_auth", "basic") == "body":
            form.update(client_id=client_id, client_secret=secret)
        else:
            auth = (client_id, secret)
        label = f"{self.name}: token: POST {urlsplit(token_url).path}"
        timeout = float(self.settings["timeout"])
        try:
            resp = self._session.post(token_url, data=form, auth=auth, timeout=(timeout, timeout),
                                      headers={"Accept": "application/json"}, allow_redirects=False)
        except requests.RequestException as exc:
            raise ErpError(f"{label} failed: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise ErpError(self._scrub(f"{label} failed: HTTP {resp.status_code}{self._detail_text(resp)}"))
        try:
            body = resp.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ErpError(f"{label}: answer holds no access_token") from None
        lifetime = float(body.get("expires_in") or 3600)
        margin = min(float(self._auth.get("refresh_margin", 60)), lifetime / 2)
        self._token, self._token_expires = token, time.monotonic() + lifetime - margin
        self._secrets.add(token)
        return token
