"""Service instances as curator-x-discovery writes and reads them (JSON bytes
taken from Curator 5.4's JsonInstanceSerializer), URI specs and strategies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zkfast.recipe.discovery import (
    DownInstancePolicy,
    InvalidInstanceError,
    RandomStrategy,
    RoundRobinStrategy,
    ServiceInstance,
    ServiceType,
    StickyStrategy,
    UriSpec,
)
from zkfast.recipe.discovery.provider import _DownInstances, strategy_for

# Written by Curator 5.4 (JsonInstanceSerializer<Map>, a LinkedHashMap payload).
CURATOR_MAP = (b'{"name":"svc","id":"id-1","address":"10.0.0.1","port":8080,"sslPort":null,'
               b'"payload":{"@class":"java.util.LinkedHashMap","zone":"a","w":"3"},'
               b'"registrationTimeUTC":1234,"serviceType":"DYNAMIC","uriSpec":{"parts":['
               b'{"value":"scheme","variable":true},{"value":"://","variable":false},'
               b'{"value":"address","variable":true},{"value":":","variable":false},'
               b'{"value":"port","variable":true},{"value":"/x","variable":false}]}}')
# JsonInstanceSerializer<String>, and a List payload of JsonInstanceSerializer<Object>.
CURATOR_STRING = (b'{"name":"svc","id":"id-2","address":"h","port":null,"sslPort":443,'
                  b'"payload":"hello","registrationTimeUTC":1,"serviceType":"DYNAMIC","uriSpec":null}')
CURATOR_LIST = (b'{"name":"s","id":"i","address":"a","port":null,"sslPort":null,'
                b'"payload":["java.util.ArrayList",["a","b"]],"registrationTimeUTC":1,'
                b'"serviceType":"STATIC","uriSpec":null}')


def test_reads_curators_json() -> None:
    inst = ServiceInstance.from_json(CURATOR_MAP)
    assert (inst.name, inst.id, inst.address) == ("svc", "id-1", "10.0.0.1")
    assert (inst.port, inst.ssl_port) == (8080, None)
    assert inst.payload == {"zone": "a", "w": "3"} and inst.payload_type == "java.util.LinkedHashMap"
    assert inst.registration_time_utc == 1234 and inst.service_type is ServiceType.DYNAMIC
    assert inst.build_uri() == "http://10.0.0.1:8080/x" and inst.enabled
    s = ServiceInstance.from_json(CURATOR_STRING)
    assert s.payload == "hello" and s.payload_type is None and s.ssl_port == 443
    assert UriSpec("{scheme}://{address}").build(s) == "https://h"
    lst = ServiceInstance.from_json(CURATOR_LIST)
    assert lst.payload == ["a", "b"] and lst.service_type is ServiceType.STATIC


def test_writes_curators_json_byte_for_byte() -> None:
    for raw in (CURATOR_MAP, CURATOR_STRING, CURATOR_LIST):
        assert ServiceInstance.from_json(raw).to_json() == raw


def test_writes_what_curator_reads() -> None:
    inst = ServiceInstance("web", "i1", "h", 80, payload={"k": [1, 2]},
                           registration_time_utc=5, uri_spec="{scheme}://{address}:{port}",
                           enabled=False)
    obj = json.loads(inst.to_json())
    assert obj["payload"] == {"k": [1, 2]}            # a plain object: Java reads a LinkedHashMap
    assert obj["enabled"] is False                      # written only when False
    assert obj["uriSpec"]["parts"][0] == {"value": "scheme", "variable": True}
    assert json.loads(ServiceInstance("web", payload=[1, 2]).to_json())["payload"] == \
        ["java.util.ArrayList", [1, 2]]               # Java takes arrays as [type, value]
    assert "enabled" not in json.loads(ServiceInstance("web").to_json())
    assert ServiceInstance.from_json(inst.to_json()) == inst


def test_unknown_members_are_ignored_and_defaults_apply() -> None:
    inst = ServiceInstance.from_json(b'{"name":"s","id":"i","futureField":1}')
    assert inst.service_type is ServiceType.DYNAMIC and inst.port is None and inst.payload is None
    assert inst.registration_time_utc == 0


@pytest.mark.parametrize("raw", [
    b"not json", b"[1,2]", b'{"name":"s"}', b'{"name":"s","id":"i","port":"80"}',
    b'{"name":"s","id":"i","serviceType":"BOGUS"}', b'{"name":"s","id":"i","port":true}',
    b'{"name":"s","id":"i","uriSpec":{"parts":[{"value":1}]}}', b"\xff\xfe",
    b'{"name":"a/b","id":"i"}',
])
def test_bad_instances_raise_a_typed_error(raw: bytes) -> None:
    with pytest.raises(InvalidInstanceError):
        ServiceInstance.from_json(raw)


@pytest.mark.parametrize("kwargs, error", [
    ({"name": ""}, ValueError), ({"name": "a/b"}, ValueError), ({"name": "s", "id": ""}, ValueError),
    ({"name": "s", "port": 70000}, ValueError), ({"name": "s", "port": True}, ValueError),
    ({"name": "s", "payload": object()}, TypeError), ({"name": "s", "payload": {1: 2}}, TypeError),
    ({"name": "s", "service_type": "NOPE"}, ValueError), ({"name": "s", "uri_spec": 3}, TypeError),
    ({"name": "s", "address": 1}, TypeError),
])
def test_bad_instances_are_refused(kwargs: Any, error: type) -> None:
    with pytest.raises(error):
        ServiceInstance(**kwargs)


def test_uri_spec() -> None:
    spec = UriSpec("{scheme}://{address}:{ port }/p/{[}x{]}/{custom}/{missing}")
    assert spec.template == "{scheme}://{address}:{port}/p/{[}x{]}/{custom}/{missing}"
    inst = ServiceInstance("web", "id9", "h", 81, service_type="STATIC")
    assert spec.build(inst, {"custom": "c"}) == "http://h:81/p/{x}/c/"
    assert UriSpec("{service-type}/{name}/{id}").build(inst) == "static/web/id9"
    for bad in ("{a", "a}", "{a{b}}"):
        with pytest.raises(ValueError):
            UriSpec(bad)


def test_strategies_and_down_instances() -> None:
    a, b, c = (ServiceInstance("s", i) for i in "abc")
    rr = RoundRobinStrategy()
    assert [rr.get_instance([a, b, c]).id for _ in range(4)] == ["a", "b", "c", "a"]  # type: ignore[union-attr]
    assert rr.get_instance([]) is None and RandomStrategy().get_instance([]) is None
    assert RandomStrategy().get_instance([b]) is b
    sticky = StickyStrategy()
    first = sticky.get_instance([a, b, c])
    assert all(sticky.get_instance([a, b, c]) is first for _ in range(5))
    assert sticky.get_instance([b, c]) in (b, c) and sticky.instance_number == 1
    with pytest.raises(ValueError):
        strategy_for("fastest")
    with pytest.raises(TypeError):
        strategy_for(42)
    down = _DownInstances(DownInstancePolicy(timeout=3600, error_threshold=2))
    down.note(a)
    assert down.is_up(a)
    down.note(a)
    assert not down.is_up(a) and down.is_up(b)
    expired = _DownInstances(DownInstancePolicy(timeout=0, error_threshold=1))
    expired.note(a)
    assert expired.is_up(a)  # the error is already older than the timeout
    with pytest.raises(ValueError):
        DownInstancePolicy(error_threshold=0)
