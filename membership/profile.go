package membership

import (
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile selects a set of timing defaults for the network the cluster runs
// on. Every value can be overridden field by field with [Config].Tuning.
type Profile uint8

const (
	// LAN suits a data-centre network. It is the zero value and the default:
	// memberlist's LAN settings (push-pull every 30 s) with quicker failure
	// detection — probes every 200 ms, gossip every 100 ms and a fixed
	// suspicion timeout of 2 s — plus Conclave's reconnect loop every 10 s.
	// A dead member is declared failed in about 2.5 s; a member silent for
	// up to 2 s (a stall, a long pause) refutes in time. Where longer stalls
	// are normal, raise SuspicionMult in [Config].Tuning; memberlist's own
	// LAN values (1 s probes, SuspicionMult 4, SuspicionMaxTimeoutMult 6)
	// detect in about 7 s. Messages are not compressed: on a LAN that saves
	// little and costs CPU on every datagram (a config given as
	// Tuning.Memberlist keeps its own EnableCompression).
	LAN Profile = iota
	// Local suits nodes on one machine: tests, demos, development. Probes
	// every 200 ms, gossip every 50 ms, push-pull every 2 s, reconnect every
	// 500 ms. Too aggressive for a real network.
	Local
	// WAN suits nodes spread over high-latency links: memberlist's WAN
	// settings (probe every 5 s, push-pull every 60 s) and reconnects every
	// 30 s.
	WAN
)

// String returns "lan", "local", "wan" or "profile(N)".
func (p Profile) String() string {
	switch p {
	case LAN:
		return "lan"
	case Local:
		return "local"
	case WAN:
		return "wan"
	default:
		return "profile(" + strconv.Itoa(int(p)) + ")"
	}
}

func (p Profile) valid() bool { return p <= WAN }

// Timing holds every timing knob. In [Config].Tuning a zero field means "the
// profile's value"; [Profile.Timing] returns a profile's complete values.
//
// The first group is passed to memberlist (see memberlist.Config for the
// exact semantics); the second drives Conclave's own loops.
type Timing struct {
	// ProbeInterval is the time between failure-detection probes of one
	// random member.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for an ack before
	// indirect probes start; about the 99th percentile round-trip time.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected member has to refute before
	// it is declared failed: SuspicionMult * log10(N) * ProbeInterval.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion timeout when few peers
	// confirm the suspicion.
	SuspicionMaxTimeoutMult int
	// IndirectChecks is how many members probe a silent member on our behalf.
	IndirectChecks int
	// GossipInterval is the time between gossip rounds.
	GossipInterval time.Duration
	// GossipNodes is how many members each gossip round targets.
	GossipNodes int
	// GossipToTheDeadTime is how long a failed member still receives gossip
	// (so it can refute) before memberlist forgets it. Conclave's reconnect
	// loop keeps trying it after that.
	GossipToTheDeadTime time.Duration
	// RetransmitMult scales how many times a gossip message is retransmitted:
	// RetransmitMult * log10(N+1).
	RetransmitMult int
	// PushPullInterval is the time between full state exchanges with one
	// random member.
	PushPullInterval time.Duration
	// StreamTimeout bounds a stream (TCP) exchange: dial, push-pull, join.
	StreamTimeout time.Duration

	// RejoinInterval is the time between attempts to join the seeds while the
	// node has no other alive member.
	RejoinInterval time.Duration
	// ReconnectInterval is the time between attempts to reach one random
	// failed member (and the seeds) so that partitions heal.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is retried before it is
	// reaped (an EventReap).
	ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a member that left stays listed before it
	// is reaped.
	TombstoneTimeout time.Duration
	// ReapInterval is the time between reaping passes.
	ReapInterval time.Duration
	// JoinSyncRounds is how many extra state exchanges follow a successful
	// join: the first with every known member (at most 64), the next ones
	// with three random members, JoinSyncInterval apart. They make nodes
	// started together converge in well under a second instead of waiting
	// for the next push-pull. Negative disables them.
	JoinSyncRounds int
	// JoinSyncInterval is the time between join sync rounds.
	JoinSyncInterval time.Duration
	// LeavePropagateDelay is how long Leave keeps gossiping after its leave
	// message went out, so that it reaches every member before shutdown.
	LeavePropagateDelay time.Duration
}

// Timing returns the profile's complete timing values.
func (p Profile) Timing() Timing {
	switch p {
	case Local:
		return localTiming()
	case WAN:
		return wanTiming()
	default:
		return lanTiming()
	}
}

func lanTiming() Timing {
	t := timingFrom(memberlist.DefaultLANConfig())
	// Detection within 2.5 s for up to 10 members, while a member silent for
	// 2 s is not declared failed: a probe round of 200 ms raises the
	// suspicion, which then runs a fixed 2 s (Lifeguard's stretching off,
	// since with few members no confirmations are expected anyway) and
	// spreads with 100 ms gossip, as does the refutation.
	t.ProbeInterval = 200 * time.Millisecond
	t.ProbeTimeout = 100 * time.Millisecond
	t.SuspicionMult = 10
	t.SuspicionMaxTimeoutMult = 1
	t.GossipInterval = 100 * time.Millisecond
	t.RejoinInterval = 5 * time.Second
	t.ReconnectInterval = 10 * time.Second
	t.ReconnectTimeout = 24 * time.Hour
	t.TombstoneTimeout = 24 * time.Hour
	t.ReapInterval = 15 * time.Second
	t.JoinSyncRounds = 3
	t.JoinSyncInterval = time.Second
	t.LeavePropagateDelay = time.Second
	return t
}

func wanTiming() Timing {
	t := timingFrom(memberlist.DefaultWANConfig())
	t.RejoinInterval = 15 * time.Second
	t.ReconnectInterval = 30 * time.Second
	t.ReconnectTimeout = 72 * time.Hour
	t.TombstoneTimeout = 72 * time.Hour
	t.ReapInterval = time.Minute
	t.JoinSyncRounds = 3
	t.JoinSyncInterval = 2 * time.Second
	t.LeavePropagateDelay = 2 * time.Second
	return t
}

func localTiming() Timing {
	t := timingFrom(memberlist.DefaultLocalConfig())
	t.ProbeInterval = 200 * time.Millisecond
	t.ProbeTimeout = 100 * time.Millisecond
	t.SuspicionMult = 4
	t.SuspicionMaxTimeoutMult = 4
	t.IndirectChecks = 2
	t.GossipInterval = 50 * time.Millisecond
	t.GossipNodes = 3
	t.GossipToTheDeadTime = 3 * time.Second
	t.RetransmitMult = 3
	t.PushPullInterval = 2 * time.Second
	t.StreamTimeout = 2 * time.Second
	t.RejoinInterval = 500 * time.Millisecond
	t.ReconnectInterval = 500 * time.Millisecond
	t.ReconnectTimeout = time.Minute
	t.TombstoneTimeout = time.Minute
	t.ReapInterval = time.Second
	t.JoinSyncRounds = 3
	t.JoinSyncInterval = 300 * time.Millisecond
	t.LeavePropagateDelay = 250 * time.Millisecond
	return t
}

// timingFrom reads memberlist's timing fields out of mc.
func timingFrom(mc *memberlist.Config) Timing {
	return Timing{
		ProbeInterval:           mc.ProbeInterval,
		ProbeTimeout:            mc.ProbeTimeout,
		SuspicionMult:           mc.SuspicionMult,
		SuspicionMaxTimeoutMult: mc.SuspicionMaxTimeoutMult,
		IndirectChecks:          mc.IndirectChecks,
		GossipInterval:          mc.GossipInterval,
		GossipNodes:             mc.GossipNodes,
		GossipToTheDeadTime:     mc.GossipToTheDeadTime,
		RetransmitMult:          mc.RetransmitMult,
		PushPullInterval:        mc.PushPullInterval,
		StreamTimeout:           mc.TCPTimeout,
	}
}

// override returns t with every non-zero field of o.
func (t Timing) override(o Timing) Timing {
	setDur(&t.ProbeInterval, o.ProbeInterval)
	setDur(&t.ProbeTimeout, o.ProbeTimeout)
	setInt(&t.SuspicionMult, o.SuspicionMult)
	setInt(&t.SuspicionMaxTimeoutMult, o.SuspicionMaxTimeoutMult)
	setInt(&t.IndirectChecks, o.IndirectChecks)
	setDur(&t.GossipInterval, o.GossipInterval)
	setInt(&t.GossipNodes, o.GossipNodes)
	setDur(&t.GossipToTheDeadTime, o.GossipToTheDeadTime)
	setInt(&t.RetransmitMult, o.RetransmitMult)
	setDur(&t.PushPullInterval, o.PushPullInterval)
	setDur(&t.StreamTimeout, o.StreamTimeout)
	setDur(&t.RejoinInterval, o.RejoinInterval)
	setDur(&t.ReconnectInterval, o.ReconnectInterval)
	setDur(&t.ReconnectTimeout, o.ReconnectTimeout)
	setDur(&t.TombstoneTimeout, o.TombstoneTimeout)
	setDur(&t.ReapInterval, o.ReapInterval)
	setInt(&t.JoinSyncRounds, o.JoinSyncRounds)
	setDur(&t.JoinSyncInterval, o.JoinSyncInterval)
	setDur(&t.LeavePropagateDelay, o.LeavePropagateDelay)
	return t
}

// applyTo writes t's non-zero memberlist fields into mc.
func (t Timing) applyTo(mc *memberlist.Config) {
	setDur(&mc.ProbeInterval, t.ProbeInterval)
	setDur(&mc.ProbeTimeout, t.ProbeTimeout)
	setInt(&mc.SuspicionMult, t.SuspicionMult)
	setInt(&mc.SuspicionMaxTimeoutMult, t.SuspicionMaxTimeoutMult)
	setInt(&mc.IndirectChecks, t.IndirectChecks)
	setDur(&mc.GossipInterval, t.GossipInterval)
	setInt(&mc.GossipNodes, t.GossipNodes)
	setDur(&mc.GossipToTheDeadTime, t.GossipToTheDeadTime)
	setInt(&mc.RetransmitMult, t.RetransmitMult)
	setDur(&mc.PushPullInterval, t.PushPullInterval)
	setDur(&mc.TCPTimeout, t.StreamTimeout)
}

func setDur(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}
