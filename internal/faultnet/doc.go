// Package faultnet is a netx.Network for tests: real loopback sockets with
// injected faults.
//
// A [Network] is the fabric of one test cluster. Each node gets a [Host],
// which implements netx.Network, and opens every socket through it. The
// Network records which host bound which address, so a datagram or a dial to
// that address travels the link from the sending host to the owning one, and
// the faults set on that link apply:
//
//   - [Network.Partition], [Network.Isolate] and [Network.Cut] (one direction)
//     stop traffic; [Network.Heal] removes all three.
//   - [Network.SetLoss] and [Network.SetLinkLoss] lose datagrams with a
//     probability. Streams never lose bytes: a "lost" segment arrives
//     [Config.RetransmitTimeout] late, as TCP would deliver it.
//   - [Network.SetDelay] and [Network.SetLinkDelay] delay datagrams and
//     stream bytes (base plus uniform jitter); stream bytes keep their order.
//   - [Network.Pause] holds traffic to and from a host, like a stopped
//     process; [Network.Resume] delivers it in order.
//   - [Host.Kill] closes every socket of a host and drops its queued traffic;
//     the host may Listen again afterwards (a restart).
//
// Faults are applied on the sending side for datagrams and on the dialing
// side, in both directions, for streams, so an accepted connection never
// needs to know who dialed it. While a link is cut or paused a stream stalls:
// writes are queued (and block once [Config.StreamBuffer] is full), reads see
// nothing, and deadlines expire exactly as with a real partition. Nothing is
// lost, so after Heal or Resume the stalled bytes arrive in order and the
// connection carries no garbage. A dial across a link cut in either
// direction fails at once with a timeout error wrapping [ErrUnreachable]; a
// dial to a paused host connects.
//
// Host names are labels: faults may name hosts that do not exist yet, and
// no call fails for an unknown name. Traffic of a host to itself, of the
// empty-named host, and to addresses no host bound is never faulted. Loss
// and jitter are drawn from one random source seeded by [Config.Seed], so the
// same sequence of sends makes the same decisions (concurrent senders,
// streams included, interleave their draws). Every fault change and
// kill is logged, and [Network.Stats] and [Network.LinkStats] count what was
// sent, dropped, delayed and held.
//
// # Usage
//
//	fn := faultnet.New(1, logger)
//	defer fn.Close()
//
//	a, b := fn.Host("a"), fn.Host("b") // pass each as the node's netx.Network
//	// ... start nodes "a" and "b" with Network: a and Network: b ...
//
//	fn.Partition([]string{"a"}, []string{"b"})
//	// ... assert that the nodes notice ...
//	fn.Heal()
//
//	fn.SetLoss(0.1)
//	fn.SetDelay(5*time.Millisecond, 2*time.Millisecond)
//	fn.Pause("b")
//	fn.Resume("b")
//	b.Kill() // then restart node "b" with the same Host
//
// The caller's obligations:
//
//  1. Open every socket of a node through that node's Host; traffic of a
//     socket opened elsewhere is not attributed to any host.
//  2. Close the Network after the nodes: Close kills every host and waits for
//     the goroutines of the Network, including those of streams still
//     flushing their queued bytes.
package faultnet
