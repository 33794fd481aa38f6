// Package membership gives a Go service a live list of its peers: nodes find
// each other from a few seeds, advertise a role, an RPC address and tags,
// detect failures, and merge again after a network partition. It runs gossip
// (hashicorp/memberlist: SWIM with Lifeguard) over sockets opened through a
// netx.Network, and it knows nothing of Raft: the cluster package builds
// consensus on top of it.
//
// # Usage
//
//	m, err := membership.New(membership.Config{ // zero fields: LAN, 0.0.0.0:7946
//		Name:  "web-1",                       // unique in the cluster
//		Seeds: []string{"10.0.0.2", "gossip.internal:7946"},
//		Tags:  map[string]string{"zone": "a"},
//	})                                        // validates; opens nothing
//	if err != nil { ... }
//	sub := m.Subscribe(0)                     // before Start: see everything
//	if err := m.Start(ctx); err != nil { ... } // binds, joins the seeds
//	defer m.Close()                           // stops; peers see a failure
//
//	go func() {
//		for ev := range sub.Events() {
//			log.Printf("%s %s at %s", ev.Type, ev.Member.Name, ev.Member.Address())
//		}
//	}()
//	for _, p := range m.Members() { ... }     // the current truth
//	m.SetTags(map[string]string{"zone": "a", "version": "2"})
//	m.Leave(ctx)                              // peers see a leave, not a failure
//
// # Lifecycle
//
// [New] validates the [Config] (every bad field is reported at once, each as
// a [ConfigError] naming the field, the value and what is allowed) and
// starts nothing. [Membership.Start] binds the UDP and TCP gossip port
// (":0" picks one; [Membership.Local] reports it) and joins the seeds.
// [Membership.Close] stops without announcing anything and returns once every
// goroutine the node started has exited and its sockets are closed;
// [Membership.Leave] first tells the cluster the node is leaving.
//
// # Events
//
// A [Subscription] receives an [Event] for every change of the member list:
// EventJoin (a member became alive), EventUpdate (an alive member changed its
// tags, role or RPC address), EventLeave (it left gracefully), EventFailed
// (failure detection declared it unreachable) and EventReap (a failed or left
// member was forgotten after its timeout). The local node's own changes are
// included.
//
// The delivery contract:
//
//  1. Gossip never waits for a subscriber. Each subscription has a bounded
//     queue, drained into its channel by a goroutine of its own; when the
//     queue is full, new events are dropped and counted
//     ([Subscription.Dropped]).
//  2. Events for one member arrive in the order they happened, and the
//     member list ([Membership.Members]) already reflects an event when it
//     is delivered.
//  3. A subscriber that sees Dropped grow, or that starts late, resynchronises
//     from Members: it is the current truth. Subscribe first, then read
//     Members, and nothing is missed (a member may be seen twice).
//  4. Close on the subscription or on the Membership closes the channel;
//     events still queued are discarded.
//
// # User events
//
// [Membership.Broadcast] sends a named event with a payload to every member;
// [Membership.SubscribeUserEvents] receives them as [UserEvent]s, under the
// same delivery contract as membership events (a separate subscription, as
// the two streams have different types and consumers). Events travel by
// gossip and are retransmitted, and every state exchange carries the
// recent ones, so a member that missed the gossip gets them later; each
// node drops duplicates by Lamport time, name and payload, so each event
// reaches each subscription once. Name and payload are bounded by
// [MaxMessageSize]: a larger event is refused with [ErrTooLarge], never
// truncated. Events sent before a node first joined are not delivered to
// it. With Tuning.EventCoalescePeriod, a burst of events of one name is
// delivered as its latest event, counting the others in
// [UserEvent.Coalesced].
//
// # Queries
//
// [Membership.Query] asks every alive member matching [QueryParams] (node
// names, tag regular expressions) and streams their acks and responses as
// they arrive ([QueryResult]); responders answer directly and, with a relay
// factor, also through other members. A node answers queries with the
// [QueryHandler] registered by [Membership.HandleQuery] for the name; a node
// without one answers with an error matching [ErrNoHandler]. The query ends
// when every expected member has acked and answered, at its timeout
// (derived from the cluster size by default), or when the context ends;
// [QueryResult.Missing] then names the members that did not answer.
//
// # Network coordinates
//
// Every probe ack carries the responder's Vivaldi [Coordinate], and every
// probe's round trip refines the prober's, as in Serf. [Membership.Coordinate],
// [Membership.RTT] and [Membership.SortByDistance] use them, for example to
// send to the nearest server.
//
// # Joining and healing
//
// Seeds are "host:port" or "host" (port [DefaultPort]); host names are
// resolved again at every attempt. Without [Config.WaitForJoin], Start returns
// even if no seed answers (the first node of a cluster), and the node keeps
// trying the seeds every Tuning.RejoinInterval while it has no other alive
// member. With it, Start waits for a first successful join, bounded by its
// context.
//
// After every successful join the node exchanges full state directly with
// every member it knows, then with a few random ones, so nodes started
// together converge in well under a second instead of waiting up to a
// push-pull interval for gossip that missed one of them.
//
// memberlist forgets a failed member after GossipToTheDeadTime and never
// contacts it again, so two halves of a long partition would stay apart.
// This package keeps failed members listed until Tuning.ReconnectTimeout and
// tries one of them every Tuning.ReconnectInterval (jittered), and tries the
// seeds while any member is failed; the first exchange that gets through
// merges the halves.
//
// [Membership.ForceLeave] moves a failed member to left on every member at
// once (and with prune forgets it), instead of retrying it until
// Tuning.ReconnectTimeout.
//
// With [Config.SnapshotPath], the node records the members it knows in a
// file and adds them to its seeds at the next start, so it rejoins even if
// no configured seed is alive; a node that left with [Membership.Leave] does
// not rejoin them.
//
// # Metadata and tags
//
// Each node advertises its [Role], its RPC address, the membership
// [ProtocolVersion] and its tags in memberlist's node metadata, which is
// limited to [MetaMaxSize] (512) bytes. Exceeding the limit is an error from
// New and from [Membership.SetTags], never a truncation. Tag keys starting
// with [ReservedTagPrefix] belong to Conclave's own packages, which set them
// through [Config.SystemTags] and [Membership.SetSystemTags]; [Member.Tags]
// shows both kinds. Metadata from the network is validated: a node whose
// metadata does not decode is not admitted.
//
// # Security
//
// [Config.Keys] turns on memberlist's AES-GCM encryption and authentication
// of all gossip; [Membership.InstallKey], [Membership.UseKey] and
// [Membership.RemoveKey] rotate keys on the local node;
// [Membership.KeyManager] runs each step on every member through queries
// and reports, per member, what failed (a member refuses to remove its
// primary key). A
// [Config.Label] keeps clusters that share a network apart. A node with no
// key, a wrong key or another label cannot join: Join and Start report why.
// Encryption does not protect against replay or against a node that holds the
// key.
//
// # Names
//
// A node name is unique. A node that tries to join under a name that a live
// member holds at another address is refused on both sides, and its Start or
// Join fails with a [*NameConflictError] naming both addresses. A node that
// restarts under its old name on a new address is admitted as soon as the
// cluster has declared its previous incarnation failed: the new node sees
// that the old address does not answer, keeps retrying, and then replaces
// the old entry (with WaitForJoin, Start returns at that point).
//
// # Timing
//
// [LAN] (the default), [Local] (one machine: tests and demos) and [WAN]
// select timing defaults; [Config.Tuning] overrides them field by field and
// [Membership.Timing] reports the values in effect. [Tuning.Memberlist] is an
// escape hatch for memberlist settings not covered here, with the one list
// of the fields Conclave overwrites.
//
// # Logging
//
// Records go to [Config.Logger] with the attributes component=membership and
// node=<name>; memberlist's own log lines are routed there at their levels.
package membership
