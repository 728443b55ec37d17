from datetime import timedelta

from portal.clock import FixedClock
from portal.throttle import LONGEST_WAIT, NO_WAIT, Backoff


def test_past_its_free_tries_each_next_try_of_a_key_waits_twice_as_long_up_to_a_ceiling():
    clock = FixedClock()
    backoff = Backoff(clock)
    assert [backoff.may_try({"mac:a": 2}) for _ in range(2)] == [NO_WAIT] * 2
    waits = []
    for _ in range(12):
        wait = backoff.may_try({"mac:a": 2})
        assert backoff.may_try({"mac:a": 2}) == wait  # a try that must wait counts nowhere
        waits.append(wait)
        clock.advance(seconds=wait.total_seconds())
        assert backoff.may_try({"mac:a": 2}) == NO_WAIT
    assert waits[:4] == [timedelta(seconds=s) for s in (2, 4, 8, 16)]
    assert waits[-1] == LONGEST_WAIT


def test_a_try_counts_against_every_key_and_waits_for_the_slowest():
    backoff = Backoff(FixedClock())
    assert backoff.may_try({"mac:a": 1, "ip:x": 2}) == NO_WAIT
    assert backoff.may_try({"mac:b": 1, "ip:x": 2}) == NO_WAIT
    assert backoff.may_try({"mac:c": 1, "ip:x": 2}) == timedelta(seconds=2)  # the address's
    assert backoff.may_try({"mac:c": 1}) == NO_WAIT  # the device alone: not slowed


def test_a_forgiven_try_is_given_back_and_a_quiet_key_is_forgotten():
    clock = FixedClock()
    backoff = Backoff(clock, forget_after=timedelta(hours=1))
    assert backoff.may_try({"ip:x": 1}) == NO_WAIT
    backoff.forgive("ip:x")
    assert backoff.may_try({"ip:x": 1}) == NO_WAIT
    assert backoff.may_try({"ip:x": 1}) > NO_WAIT
    clock.advance(hours=1)
    assert backoff.may_try({"ip:x": 1}) == NO_WAIT
