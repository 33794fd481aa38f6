package faultnet

import "time"

// Stats counts what a link (or, summed, the whole network) carried and what
// the faults did to it. Only traffic between two different named hosts is
// counted.
type Stats struct {
	// PacketsSent counts datagrams handed to WriteTo, and PacketBytesSent
	// their payload bytes.
	PacketsSent     uint64
	PacketBytesSent uint64
	// PacketsDropped counts datagrams lost to loss, a cut, a partition, an
	// isolation or a kill.
	PacketsDropped uint64
	// PacketsDelayed counts datagrams scheduled for later delivery by a delay.
	PacketsDelayed uint64
	// PacketsHeld counts datagrams held by a pause.
	PacketsHeld uint64
	// PacketsDelivered counts datagrams written to the destination socket.
	PacketsDelivered uint64

	// StreamBytesSent counts bytes handed to a stream connection.
	StreamBytesSent uint64
	// StreamBytesDelayed counts stream bytes that were delayed (by a delay
	// or a retransmission).
	StreamBytesDelayed uint64
	// StreamRetransmits counts stream segments the loss model "lost", each
	// delayed by the retransmission timeout.
	StreamRetransmits uint64
	// DialsRefused counts dials that failed because the link was cut.
	DialsRefused uint64
}

// LossRate returns PacketsDropped / PacketsSent, or 0 when nothing was sent.
func (s Stats) LossRate() float64 {
	if s.PacketsSent == 0 {
		return 0
	}
	return float64(s.PacketsDropped) / float64(s.PacketsSent)
}

// add accumulates o into s.
func (s *Stats) add(o Stats) {
	s.PacketsSent += o.PacketsSent
	s.PacketBytesSent += o.PacketBytesSent
	s.PacketsDropped += o.PacketsDropped
	s.PacketsDelayed += o.PacketsDelayed
	s.PacketsHeld += o.PacketsHeld
	s.PacketsDelivered += o.PacketsDelivered
	s.StreamBytesSent += o.StreamBytesSent
	s.StreamBytesDelayed += o.StreamBytesDelayed
	s.StreamRetransmits += o.StreamRetransmits
	s.DialsRefused += o.DialsRefused
}

// Stats returns the counters summed over every link.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var total Stats
	for _, s := range n.stats {
		total.add(*s)
	}
	return total
}

// LinkStats returns the counters of the link from -> to.
func (n *Network) LinkStats(from, to string) Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.stats[Link{from, to}]; ok {
		return *s
	}
	return Stats{}
}

// AllLinkStats returns the counters of every link that carried traffic.
func (n *Network) AllLinkStats() map[Link]Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[Link]Stats, len(n.stats))
	for l, s := range n.stats {
		out[l] = *s
	}
	return out
}

// statsLocked returns the counters of from -> to, creating them. n.mu is held.
func (n *Network) statsLocked(from, to string) *Stats {
	l := Link{from, to}
	s, ok := n.stats[l]
	if !ok {
		s = &Stats{}
		n.stats[l] = s
	}
	return s
}

// count applies f to the counters of from -> to.
func (n *Network) count(from, to string, f func(*Stats)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n.statsLocked(from, to))
}

// streamDelay draws the extra delay of nbytes written on from -> to: the link
// delay, plus the retransmission timeout when the loss model loses the
// segment. It counts the bytes.
func (n *Network) streamDelay(from, to string, nbytes int) time.Duration {
	if !filtered(from, to) {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.statsLocked(from, to)
	s.StreamBytesSent += uint64(nbytes)
	var d time.Duration
	if n.lostLocked(from, to) {
		d += n.cfg.RetransmitTimeout
		s.StreamRetransmits++
	}
	d += n.delayLocked(from, to)
	if d > 0 {
		s.StreamBytesDelayed += uint64(nbytes)
	}
	return d
}
