"""A service instance and its JSON, byte-compatible with curator-x-discovery.

Curator's ``JsonInstanceSerializer`` (Jackson) writes each instance as one
compact JSON object; checked against Curator 5.4's own output::

    {"name":"web","id":"7b0f...","address":"10.0.0.7","port":8080,"sslPort":null,
     "payload":{"@class":"java.util.LinkedHashMap","zone":"a"},
     "registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC",
     "uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false}]}}

Jackson marks the *payload's* Java type: an object payload carries an
``"@class"`` member; a list (and a Long that would fit an int) is written as
``[class name, value]``; strings, booleans, doubles, ints and null are
plain. Reading, zkfast takes that type mark off into ``payload_type`` and
gives the plain value; writing, it puts it back (a dict without one is
read by Java as a LinkedHashMap; a list is sent as ``java.util.ArrayList``).
``enabled`` is written only when False (Curator's default "compatible"
format leaves it out); unknown members are ignored, as Curator does.
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

__all__ = ["ServiceInstance", "ServiceType", "UriSpec", "InvalidInstanceError"]

_JAVA_LIST = "java.util.ArrayList"


class InvalidInstanceError(ValueError):
    """A node's data is not a service instance (bad JSON, wrong types)."""


class ServiceType(str, enum.Enum):
    """How an instance's node lives (Curator's ServiceType)."""

    DYNAMIC = "DYNAMIC"                        #: ephemeral: goes with the session (re-registered)
    STATIC = "STATIC"                          #: persistent
    PERMANENT = "PERMANENT"                    #: persistent
    DYNAMIC_SEQUENTIAL = "DYNAMIC_SEQUENTIAL"  #: ephemeral sequential: ``<id><seq>``

    @property
    def is_dynamic(self) -> bool:
        return self in (ServiceType.DYNAMIC, ServiceType.DYNAMIC_SEQUENTIAL)


class UriSpec:
    """A URI template such as ``"{scheme}://{address}:{port}/api"`` (Curator's
    UriSpec): literal parts and ``{variable}`` parts. ``build`` fills in
    ``scheme`` (http, or https with an ssl port), ``name``, ``id``,
    ``address``, ``port``, ``ssl-port``, ``registration-time-utc``,
    ``service-type`` and ``[`` / ``]`` (literal braces), then ``variables``.

    >>> UriSpec("{scheme}://{address}:{port}").build(ServiceInstance("web", address="h", port=80))
    'http://h:80'
    """

    __slots__ = ("parts",)

    def __init__(self, template: str = "", parts: Optional[List[Tuple[str, bool]]] = None) -> None:
        if parts is not None:
            self.parts: List[Tuple[str, bool]] = list(parts)
            return
        if not isinstance(template, str):
            raise TypeError(f"a UriSpec template is a str, not {type(template).__name__}")
        self.parts = []
        inside = False
        token = ""
        for ch in template:
            if ch == "{":
                if inside:
                    raise ValueError(f"'{{' inside a variable in {template!r}")
                if token:
                    self.parts.append((token, False))
                token, inside = "", True
            elif ch == "}":
                if not inside:
                    raise ValueError(f"'}}' without '{{' in {template!r}")
                if token.strip():
                    self.parts.append((token.strip(), True))
                token, inside = "", False
            else:
                token += ch
        if inside:
            raise ValueError(f"a variable is not closed in {template!r}")
        if token:
            self.parts.append((token, False))

    def __repr__(self) -> str:
        return f"UriSpec({self.template!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UriSpec) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(tuple(self.parts))

    @property
    def template(self) -> str:
        return "".join("{" + v + "}" if var else v for v, var in self.parts)

    def build(self, instance: Optional[ServiceInstance] = None,
              variables: Optional[Mapping[str, Any]] = None) -> str:
        values: Dict[str, Any] = {"[": "{", "]": "}", "scheme": "http"}
        if instance is not None:
            values.update({
                "name": instance.name, "id": instance.id, "address": instance.address,
                "port": instance.port, "ssl-port": instance.ssl_port,
                "registration-time-utc": instance.registration_time_utc,
                "service-type": instance.service_type.value.lower(),
            })
            if instance.ssl_port is not None:
                values["scheme"] = "https"
        values.update(variables or {})
        out = []
        for value, var in self.parts:
            if not var:
                out.append(value)
            elif values.get(value) is not None:
                out.append(str(values[value]))
        return "".join(out)

    def to_json_value(self) -> Dict[str, Any]:
        return {"parts": [{"value": v, "variable": var} for v, var in self.parts]}

    @classmethod
    def from_json_value(cls, obj: Any) -> UriSpec:
        if not isinstance(obj, dict) or not isinstance(obj.get("parts", []), list):
            raise InvalidInstanceError(f"uriSpec is not an object with parts: {obj!r}")
        parts = []
        for p in obj.get("parts", []):
            if not isinstance(p, dict) or not isinstance(p.get("value", ""), str) \
                    or not isinstance(p.get("variable", False), bool):
                raise InvalidInstanceError(f"a uriSpec part is not {{value, variable}}: {p!r}")
            parts.append((p.get("value", ""), p.get("variable", False)))
        return cls(parts=parts)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    return str(uuid.uuid4())  # Curator's default: a dashed UUID


@dataclass(frozen=True)
class ServiceInstance:
    """One instance of a service (curator-x-discovery's ServiceInstance).

    ``payload`` is any JSON value (dict, list, str, number, bool, None);
    ``payload_type`` is the Java class name Curator attached to it, if any.
    ``uri_spec`` may be given as a template string.

    >>> ServiceInstance("web", address="10.0.0.7", port=8080, payload={"zone": "a"})   # doctest: +SKIP
    """

    name: str
    id: str = field(default_factory=_new_id)
    address: Optional[str] = None
    port: Optional[int] = None
    ssl_port: Optional[int] = None
    payload: Any = None
    registration_time_utc: int = field(default_factory=_now_ms)
    service_type: ServiceType = ServiceType.DYNAMIC
    uri_spec: Optional[Union[UriSpec, str]] = None
    enabled: bool = True
    payload_type: Optional[str] = None

    def __post_init__(self) -> None:
        for attr in ("name", "id"):
            v = getattr(self, attr)
            if not isinstance(v, str) or not v or "/" in v:
                raise ValueError(f"a service instance's {attr} is one node name (non-empty, "
                                 f"no '/'), not {v!r}")
        if self.address is not None and not isinstance(self.address, str):
            raise TypeError(f"address must be a str or None, not {type(self.address).__name__}")
        for attr in ("port", "ssl_port"):
            v = getattr(self, attr)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535):
                raise ValueError(f"{attr} must be a port number (0..65535) or None, not {v!r}")
        if isinstance(self.registration_time_utc, bool) or not isinstance(self.registration_time_utc, int):
            raise TypeError("registration_time_utc is milliseconds since the epoch (an int)")
        if not isinstance(self.service_type, ServiceType):
            object.__setattr__(self, "service_type", ServiceType(self.service_type))
        if isinstance(self.uri_spec, str):
            object.__setattr__(self, "uri_spec", UriSpec(self.uri_spec))
        elif self.uri_spec is not None and not isinstance(self.uri_spec, UriSpec):
            raise TypeError("uri_spec must be a UriSpec, a template str or None")
        _check_payload(self.payload)

    def __hash__(self) -> int:  # payloads may be dicts: equal instances share (name, id)
        return hash((self.name, self.id))

    @property
    def key(self) -> Tuple[str, str]:
        return (self.name, self.id)

    def build_uri(self, variables: Optional[Mapping[str, Any]] = None) -> str:
        """The instance's URI from its ``uri_spec`` ("" without one)."""
        spec = self.uri_spec
        return spec.build(self, variables) if isinstance(spec, UriSpec) else ""

    def with_changes(self, **changes: Any) -> ServiceInstance:
        """A copy with some fields changed (for ``ServiceDiscovery.update``)."""
        return replace(self, **changes)

    # ------------------------------------------------------------ JSON

    def to_json(self) -> bytes:
        """Curator's JSON for this instance (compact, UTF-8)."""
        spec = self.uri_spec
        obj: Dict[str, Any] = {
            "name": self.name, "id": self.id, "address": self.address, "port": self.port,
            "sslPort": self.ssl_port, "payload": _payload_out(self.payload, self.payload_type),
            "registrationTimeUTC": self.registration_time_utc,
            "serviceType": self.service_type.value,
            "uriSpec": spec.to_json_value() if isinstance(spec, UriSpec) else None,
        }
        if not self.enabled:
            obj["enabled"] = False
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> ServiceInstance:
        """Read Curator's (or zkfast's) JSON; :class:`InvalidInstanceError` if it is none."""
        try:
            obj = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidInstanceError(f"not a JSON service instance: {e}") from None
        if not isinstance(obj, dict):
            raise InvalidInstanceError(f"not a JSON object: {type(obj).__name__}")
        try:
            payload, payload_type = _payload_in(obj.get("payload"))
            spec = obj.get("uriSpec")
            return cls(
                name=_field(obj, "name", str, ""), id=_field(obj, "id", str, ""),
                address=_field(obj, "address", str, None), port=_field(obj, "port", int, None),
                ssl_port=_field(obj, "sslPort", int, None), payload=payload,
                registration_time_utc=_field(obj, "registrationTimeUTC", int, 0),
                service_type=ServiceType(_field(obj, "serviceType", str, "DYNAMIC")),
                uri_spec=None if spec is None else UriSpec.from_json_value(spec),
                enabled=_field(obj, "enabled", bool, True), payload_type=payload_type)
        except InvalidInstanceError:
            raise
        except (TypeError, ValueError) as e:
            raise InvalidInstanceError(str(e)) from None


def _field(obj: Dict[str, Any], key: str, kind: type, default: Any) -> Any:
    v = obj.get(key, default)
    if v is None:
        return default
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise InvalidInstanceError(f"{key} is a {type(v).__name__}, not a {kind.__name__}")
    return v


def _check_payload(value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise ValueError("payload nests too deeply")
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"payload keys must be str, not {type(k).__name__}")
            _check_payload(v, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_payload(v, depth + 1)
        return
    raise TypeError(f"a payload is a JSON value, not {type(value).__name__}")


def _payload_out(value: Any, java_type: Optional[str]) -> Any:
    """The payload as Jackson expects it (type mark on the top-level value)."""
    if isinstance(value, dict):
        if java_type is not None:
            return {"@class": java_type, **{k: v for k, v in value.items() if k != "@class"}}
        return value
    if isinstance(value, (list, tuple)):
        return [java_type or _JAVA_LIST, list(value)]
    if java_type is not None and value is not None and not isinstance(value, (str, bool)):
        return [java_type, value]  # e.g. java.lang.Long
    return value


def _payload_in(value: Any) -> Tuple[Any, Optional[str]]:
    """(plain payload, Java type mark or None) from Jackson's form."""
    if isinstance(value, dict) and isinstance(value.get("@class"), str):
        rest = {k: v for k, v in value.items() if k != "@class"}
        return rest, value["@class"]
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        return value[1], value[0]  # [type id, value]: how Jackson wraps arrays and some scalars
    return value, None
