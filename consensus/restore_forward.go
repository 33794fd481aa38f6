package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/conclave-go/conclave/internal/rpc"
)

// byteRestore selects, on the node's port, a connection that carries a
// snapshot stream from a follower to the leader for [Node.Restore].
//
// The follower sends the stream in chunks, each a 4-byte big-endian length
// and that many bytes, ended by an empty chunk; the leader answers once,
// with a status byte, a 4-byte length and a message. RPC frames are bounded
// by MaxMessageSize; a snapshot is not, hence a connection of its own.
const byteRestore uint8 = 'S'

// Statuses of a forwarded restore.
const (
	restoreOK byte = iota
	restoreBadSnapshot
	restoreNotLeader // message: leader name, NUL, leader address
	restoreFailed
)

const (
	restoreChunk  = 64 << 10
	maxRestoreMsg = 64 << 10
)

// serveRestores accepts forwarded restores until ln is closed.
func (n *Node) serveRestores(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if !n.spawn(func() { n.handleRestore(conn) }) {
			_ = conn.Close()
			return
		}
	}
}

// handleRestore restores the stream conn carries, answers, and drains what
// the sender still sends so that it reads the answer.
func (n *Node) handleRestore(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(n.baseCtx, func() { _ = conn.Close() })
	defer stop()
	body := &chunkReader{r: conn}
	err := n.restoreLocal(n.baseCtx, body)
	if err != nil {
		n.logger.Info("forwarded restore refused", "from", conn.RemoteAddr().String(), "error", err)
	}
	status, msg := restoreOK, ""
	var nle *NotLeaderError
	switch {
	case err == nil:
	case errors.As(err, &nle):
		status, msg = restoreNotLeader, nle.LeaderName+"\x00"+nle.LeaderAddr
	case errors.Is(err, ErrBadSnapshot):
		status, msg = restoreBadSnapshot, strings.TrimPrefix(err.Error(), ErrBadSnapshot.Error()+": ")
	default:
		status, msg = restoreFailed, err.Error()
	}
	if len(msg) > maxRestoreMsg {
		msg = msg[:maxRestoreMsg]
	}
	hdr := make([]byte, 5, 5+len(msg))
	hdr[0] = status
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(msg)))
	if _, err := conn.Write(append(hdr, msg...)); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, body)
}

// forwardRestore sends the stream r to the leader's restore service and
// returns its verdict.
func (n *Node) forwardRestore(ctx context.Context, r io.Reader) error {
	addr, err := n.leaderAddr()
	if err != nil {
		return fmt.Errorf("consensus: restore: %w: no leader known to forward to", ErrNoLeader)
	}
	conn, err := rpc.DialByte(ctx, n.cfg.Network.Dial, addr, byteRestore, n.cfg.TLS.Client)
	if err != nil {
		return fmt.Errorf("consensus: restore: reach the leader at %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// The leader answers as soon as it refuses the stream; the answer waits
	// in the connection while the rest is sent and discarded.
	cw := &chunkWriter{w: conn}
	src := &errReader{r: ctxReader{ctx, r}}
	_, copyErr := io.CopyBuffer(cw, src, make([]byte, restoreChunk))
	if src.err != nil {
		// Closing without the end chunk: the leader sees a truncated
		// stream and changes nothing.
		return fmt.Errorf("consensus: restore: read snapshot: %w", src.err)
	}
	if copyErr == nil {
		copyErr = cw.end()
	}
	status, msg, err := readRestoreAnswer(conn)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("consensus: restore: %w", outcomeUnknown(ctx.Err()))
	case err != nil && copyErr != nil:
		return fmt.Errorf("consensus: restore: forwarding to the leader at %s: %w", addr, copyErr)
	case err != nil:
		return fmt.Errorf("consensus: restore: %w: the leader at %s did not answer: %w", ErrOutcomeUnknown, addr, err)
	}
	switch status {
	case restoreOK:
		return nil
	case restoreBadSnapshot:
		return fmt.Errorf("%w: %s", ErrBadSnapshot, msg)
	case restoreNotLeader:
		name, laddr, _ := strings.Cut(msg, "\x00")
		return fmt.Errorf("consensus: restore: forwarded to a server that no longer leads: %w", &NotLeaderError{LeaderName: name, LeaderAddr: laddr})
	default:
		return fmt.Errorf("consensus: restore on the leader at %s: %s", addr, msg)
	}
}

func readRestoreAnswer(r io.Reader) (byte, string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, "", err
	}
	size := binary.BigEndian.Uint32(hdr[1:])
	if size > maxRestoreMsg {
		return 0, "", fmt.Errorf("%w: restore answer of %d bytes", ErrProtocol, size)
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return 0, "", err
	}
	return hdr[0], string(msg), nil
}

// chunkWriter frames what is written to w as chunks.
type chunkWriter struct{ w io.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	if _, err := c.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// end writes the empty chunk that ends the stream.
func (c *chunkWriter) end() error {
	_, err := c.w.Write([]byte{0, 0, 0, 0})
	return err
}

// chunkReader reads the chunks chunkWriter wrote, and io.EOF after the
// empty chunk.
type chunkReader struct {
	r    io.Reader
	left uint32
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		c.left = binary.BigEndian.Uint32(hdr[:])
		if c.left == 0 {
			c.done = true
			return 0, io.EOF
		}
		if c.left > restoreChunk {
			return 0, fmt.Errorf("%w: restore chunk of %d bytes", ErrProtocol, c.left)
		}
	}
	if uint32(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= uint32(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// errReader records the first error of r other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}
