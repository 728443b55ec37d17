from datetime import timedelta

from portal.clock import FixedClock
from portal.throttle import Throttle


def test_each_key_has_its_own_limit_and_a_try_counts_against_every_key():
    throttle = Throttle(FixedClock())
    assert [throttle.may_try({"mac:a": 2, "ip:x": 3}) for _ in range(3)] == [True, True, False]
    assert throttle.may_try({"mac:b": 2, "ip:x": 3})  # the address's third try
    assert not throttle.may_try({"mac:c": 2, "ip:x": 3})


def test_a_forgiven_try_is_given_back_and_old_tries_expire():
    clock = FixedClock()
    throttle = Throttle(clock, window=timedelta(hours=1))
    assert throttle.may_try({"ip:x": 1})
    throttle.forgive("ip:x")
    assert throttle.may_try({"ip:x": 1})
    assert not throttle.may_try({"ip:x": 1})
    clock.advance(hours=1, seconds=1)
    assert throttle.may_try({"ip:x": 1})
