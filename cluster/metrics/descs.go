package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-go/conclave/membership"
)

var (
	memberStatuses  = []membership.Status{membership.StatusAlive, membership.StatusFailed, membership.StatusLeft}
	eventTypes      = []membership.EventType{membership.EventJoin, membership.EventUpdate, membership.EventLeave, membership.EventFailed, membership.EventReap}
	bootstrapStates = []string{"waiting", "blocked", "done"}
)

// descs are the collector's metric descriptions. The names and help texts
// are the documented interface (README, "Operating a cluster").
type descs struct {
	// membership
	members, memberEvents, eventsDropped, subscriptions *prometheus.Desc
	rejoins, reconnects, metaBytes                      *prometheus.Desc
	streams, streamLimit, streamsRefused                *prometheus.Desc
	// consensus
	term, commitIndex, appliedIndex, lastLogIndex, lastContact, isLeader *prometheus.Desc
	leaderChanges, apply, fwdApply, read, fwdBatch                       *prometheus.Desc
	outcomeUnknown, noLeader                                             *prometheus.Desc
	snapshots, snapshotFailures, snapshotDuration, snapshotBytes         *prometheus.Desc
	portConns, portLimit, portRefused, portEvicted, portIdleClosed       *prometheus.Desc
	// cluster
	voters, healthyVoters, nonVoters, failureTolerance, healthAge *prometheus.Desc
	reconcileChanges, reconcileFailures, bootstrap                *prometheus.Desc
}

func newDescs(constLabels prometheus.Labels) descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("conclave_"+name, help, labels, constLabels)
	}
	return descs{
		members:        d("membership_members", "Members in this node's member list, by gossip status.", "status"),
		memberEvents:   d("membership_events_total", "Membership events this node's member list produced, by type.", "type"),
		eventsDropped:  d("membership_events_dropped_total", "Membership events discarded because a subscription's queue was full, over all subscriptions."),
		subscriptions:  d("membership_subscriptions", "Open membership event subscriptions."),
		rejoins:        d("membership_rejoin_attempts_total", "Times this node joined its seeds again because it was alone or missed a member."),
		reconnects:     d("membership_reconnect_attempts_total", "Times this node tried to reach a failed member."),
		metaBytes:      d("membership_metadata_bytes", "Size of the metadata this node gossips (limit 512)."),
		streams:        d("membership_streams", "Gossip streams (TCP) from other nodes open now."),
		streamLimit:    d("membership_stream_limit", "Limits on open gossip streams: in total, and from one address.", "scope"),
		streamsRefused: d("membership_streams_refused_total", "Gossip streams closed at once because a limit was reached."),

		term:             d("raft_term", "Current Raft term."),
		commitIndex:      d("raft_commit_index", "Highest log index this server knows committed."),
		appliedIndex:     d("raft_applied_index", "Highest log index applied to this server's state machine."),
		lastLogIndex:     d("raft_last_log_index", "Last index in this server's log."),
		lastContact:      d("raft_last_contact_seconds", "Time since this server last heard from a leader (0 on the leader; absent if never)."),
		isLeader:         d("raft_is_leader", "1 when this server is the Raft leader, else 0."),
		leaderChanges:    d("raft_leader_changes_total", "Leaders this server observed taking office (new leader or new term)."),
		apply:            d("raft_apply_duration_seconds", "Latency of Apply calls this server served as leader."),
		fwdApply:         d("raft_forwarded_apply_duration_seconds", "Latency of Apply calls this server forwarded to the leader."),
		read:             d("raft_read_duration_seconds", "Latency of Read and Query calls, by read level.", "level"),
		fwdBatch:         d("raft_forward_batch_commands", "Commands carried by each batch forwarded to the leader."),
		outcomeUnknown:   d("raft_outcome_unknown_errors_total", "Calls that ended with ErrOutcomeUnknown (the command may have been applied)."),
		noLeader:         d("raft_no_leader_errors_total", "Calls that ended with ErrNoLeader."),
		snapshots:        d("raft_snapshots_total", "State machine snapshots written."),
		snapshotFailures: d("raft_snapshot_failures_total", "State machine snapshots that failed."),
		snapshotDuration: d("raft_snapshot_duration_seconds", "Time to write each state machine snapshot."),
		snapshotBytes:    d("raft_snapshot_size_bytes", "Size of the latest snapshot written."),
		portConns:        d("raft_port_connections", "Connections to the Raft/RPC port open now, past their protocol byte."),
		portLimit:        d("raft_port_connection_limit", "Limits on open connections to the Raft/RPC port: in total, and from one address.", "scope"),
		portRefused:      d("raft_port_refused_total", "Connections to the Raft/RPC port closed at once because a limit was reached."),
		portEvicted:      d("raft_port_evicted_total", "Idle connections to the Raft/RPC port closed to admit new ones at a limit."),
		portIdleClosed:   d("raft_port_idle_closed_total", "Connections to the Raft/RPC port closed after the idle timeout."),

		voters:            d("cluster_voters", "Voters in the Raft configuration, as this server saw it in its latest reconcile round."),
		healthyVoters:     d("cluster_healthy_voters", "Healthy voters, as this server saw them in its latest reconcile round."),
		nonVoters:         d("cluster_nonvoters", "Non-voters in the Raft configuration."),
		failureTolerance:  d("cluster_failure_tolerance", "Voters that may still fail before the group loses its quorum."),
		healthAge:         d("cluster_health_age_seconds", "Age of the group picture the cluster gauges come from."),
		reconcileChanges:  d("cluster_reconcile_changes_total", "Raft configuration changes this server's reconciler made as leader, by kind.", "kind"),
		reconcileFailures: d("cluster_reconcile_failures_total", "Raft configuration changes this server's reconciler attempted that failed."),
		bootstrap:         d("cluster_bootstrap_state", "1 for the server's bootstrap state: waiting (no Raft state yet), blocked (servers disagree about BootstrapExpect) or done.", "state"),
	}
}

func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.members, d.memberEvents, d.eventsDropped, d.subscriptions, d.rejoins, d.reconnects, d.metaBytes,
		d.streams, d.streamLimit, d.streamsRefused,
		d.term, d.commitIndex, d.appliedIndex, d.lastLogIndex, d.lastContact, d.isLeader,
		d.leaderChanges, d.apply, d.fwdApply, d.read, d.fwdBatch, d.outcomeUnknown, d.noLeader,
		d.snapshots, d.snapshotFailures, d.snapshotDuration, d.snapshotBytes,
		d.portConns, d.portLimit, d.portRefused, d.portEvicted, d.portIdleClosed,
		d.voters, d.healthyVoters, d.nonVoters, d.failureTolerance, d.healthAge,
		d.reconcileChanges, d.reconcileFailures, d.bootstrap,
	}
}
