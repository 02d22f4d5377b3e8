"""What the new incidents say in an alert (the shipped templates, rendered by notify's real Renderer)."""

from hamaster.core.incidents import Incident
from hamaster.notify.render import Renderer

S = 10**9


def test_a_crash_failover_says_the_stale_vip_and_the_clocks() -> None:
    inc = Incident("failover", "VI_1", 1, "VI_1 moved a1 -> a2 in 3.1 s; ...", "k", nodes=["a1", "a2"],
                   severity="critical", id=7,
                   data={"old_holder": "a1", "new_holder": "a2", "gap_ns": round(3.1 * S),
                         "cause": "keepalived on a1 died without a STOP (killed or crashed)",
                         "stale_vip": {"node": "a1", "vip": "10.9.0.100", "interface": "eth0"},
                         "clock_offsets_ns": {"a2": 5 * S}})
    title, body = Renderer({}).render(inc)
    assert title == "[critical] VI_1 moved a1 -> a2 in 3.1 s (stale VIP on a1)"
    assert "no node held it for 3.1 s" in body and "keepalived on a1 died without a STOP" in body
    assert "a1 still holds 10.9.0.100 on eth0" in body and "ip addr del 10.9.0.100 dev eth0" in body
    assert "a2 +5.000 s" in body


def test_stale_vip_and_clock_offset_have_their_own_words() -> None:
    stale = Incident("stale_vip", "VI_1", 1, "a1 still holds VIP 10.9.0.100 on eth0 while keepalived on a1 is"
                     " dead: two hosts may answer ARP for it", "k1", nodes=["a1"], id=8,
                     data={"vip": "10.9.0.100", "interface": "eth0", "node": "a1"})
    title, body = Renderer({}).render(stale)
    assert title == "[critical] stale VIP 10.9.0.100 on a1 (eth0)" and "two hosts may answer ARP" in body
    clock = Incident("clock_offset", None, 1, "node a2's clock is 5.0 s fast", "k2", nodes=["a2"], id=9,
                     data={"offset_ns": 5 * S, "delay_ns": 400_000})
    title, body = Renderer({}).render(clock)
    assert title == "[warning] node a2's clock is 5.0 s fast" and "round trip 0.4 ms" in body
