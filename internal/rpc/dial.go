package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// DialByte connects to the mux at addr through dial (nil means a plain
// net.Dialer), completes a client-side TLS handshake when tlsConf is non-nil,
// and announces protocol b. ctx bounds the whole exchange; on any failure the
// connection is closed. When tlsConf has no ServerName and does not skip
// verification, the host part of addr is used as the server name.
func DialByte(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string, b byte, tlsConf *tls.Config) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := announce(ctx, raw, addr, b, tlsConf)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return conn, nil
}

// announce runs the TLS handshake and writes the protocol byte on raw,
// interrupting both when ctx ends.
func announce(ctx context.Context, raw net.Conn, addr string, b byte, tlsConf *tls.Config) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := raw.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	// Cancellation of ctx poisons the deadline, which unblocks any I/O.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	conn, err := handshakeAndWrite(ctx, raw, addr, b, tlsConf)
	if !stop() {
		// ctx ended while we worked: its error explains the failure, and
		// a successful conn now carries a poisoned deadline.
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, context.Cause(ctx))
	}
	if err != nil {
		if cerr := contextErr(ctx); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return conn, nil
}

func handshakeAndWrite(ctx context.Context, raw net.Conn, addr string, b byte, tlsConf *tls.Config) (net.Conn, error) {
	conn := raw
	if tlsConf != nil {
		tc := tls.Client(raw, clientTLS(tlsConf, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	if _, err := conn.Write([]byte{b}); err != nil {
		return nil, fmt.Errorf("writing protocol byte: %w", err)
	}
	return conn, nil
}

// clientTLS fills in the server name from addr when the config has none.
// A VerifyConnection callback sees that name as ConnectionState.ServerName
// even for an IP address (for which crypto/tls leaves it empty), so that a
// config verifying the chain itself (InsecureSkipVerify with
// VerifyConnection) can verify the name too.
func clientTLS(c *tls.Config, addr string) *tls.Config {
	if c.ServerName != "" {
		return c
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c = c.Clone()
	c.ServerName = host
	if verify := c.VerifyConnection; verify != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				cs.ServerName = host
			}
			return verify(cs)
		}
	}
	return c
}

// contextErr is ctx.Err(), or DeadlineExceeded when ctx's deadline has
// passed but its timer has not fired yet (the connection's own deadline,
// set to the same instant, can expire first).
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
