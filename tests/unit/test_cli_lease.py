"""The lock command's stop timeline (``zkfast.cli.commands.lock.Lease``), no server."""

from __future__ import annotations

from zkfast.cli.commands.lock import KILL_AFTER, TERM_AFTER, Lease


def test_the_command_is_stopped_before_the_session_can_expire() -> None:
    t = 4.0
    lease = Lease(t, confirmed=100.0)
    assert lease.expires_at() == 104.0  # the earliest the server may expire the session
    assert lease.term_at() == 100.0 + TERM_AFTER * t == 102.0
    assert lease.kill_at() == 100.0 + KILL_AFTER * t == 103.0
    assert lease.grace == 1.0
    assert lease.term_at() < lease.kill_at() < lease.expires_at()


def test_a_confirmation_moves_the_timeline_and_never_back() -> None:
    lease = Lease(10.0, confirmed=0.0)
    lease.confirm(3.0)
    assert (lease.term_at(), lease.kill_at(), lease.expires_at()) == (8.0, 10.5, 13.0)
    lease.confirm(1.0)  # a late reply to an older probe proves less
    assert lease.confirmed == 3.0


def test_a_known_loss_stops_at_once_and_kills_after_the_grace() -> None:
    lease = Lease(10.0, confirmed=0.0)
    lease.lose(2.0)
    assert (lease.term_at(), lease.kill_at()) == (2.0, 4.5)
    lease.lose(3.0)  # the first loss counts
    assert lease.lost_at == 2.0
    late = Lease(10.0, confirmed=0.0)
    late.lose(6.0)  # the lease runs out first: SIGKILL at 7.5, not 6 + 2.5
    assert (late.term_at(), late.kill_at()) == (5.0, 7.5)
