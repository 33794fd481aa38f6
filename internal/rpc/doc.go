// Package rpc carries Conclave's node-to-node traffic on one TCP port: a
// [Mux] splits connections by their first byte (Raft's transport on one
// byte, Conclave's request/response protocol on another), optionally inside
// mutual TLS, and a pipelined [Server]/[Client] pair implements the
// request/response protocol.
//
// # Usage
//
// Constructors return an invalid configuration as an error. Serve two
// protocols on one listener:
//
//	ln, _ := netx.Real().Listen("tcp", addr)
//	serverTLS, clientTLS, err := rpc.MutualTLS(caPEM, certPEM, keyPEM, "server.conclave")
//	mux, err := rpc.NewMux(ln, rpc.MuxConfig{TLS: serverTLS, Logger: logger}) // nil TLS: plaintext
//	raftLn := mux.Listen(byteRaft) // register before Serve
//	rpcLn := mux.Listen(byteRPC)
//	go mux.Serve()
//	defer mux.Close()
//
// Answer requests; handlers run concurrently and honour ctx:
//
//	srv, err := rpc.NewServer(rpcLn, func(ctx context.Context, method uint8, req []byte) ([]byte, error) {
//		switch method {
//		case methodApply:
//			return apply(ctx, req)
//		}
//		return nil, rpc.Errorf(rpc.CodeUnknownMethod, "no method %d", method)
//	}, rpc.ServerConfig{Logger: logger})
//	go srv.Serve()
//	defer srv.Close()
//
// Call from another node; concurrent calls share pooled connections:
//
//	client, err := rpc.NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
//		return rpc.DialByte(ctx, network.Dial, addr, byteRPC, clientTLS)
//	}, rpc.ClientConfig{Logger: logger})
//	defer client.Close()
//	resp, err := client.Call(ctx, leaderAddr, methodApply, cmd)
//	switch {
//	case err == nil:
//	case errors.Is(err, rpc.ErrNotSent):  // never left this node: safe to retry
//	case errors.As(err, &remoteErr):      // the handler's error, with its code
//	default:                              // outcome unknown
//	}
//
// Protocols built on rpc choose their own method numbers and error codes
// from [CodeFirstUser] upward. See DESIGN.md for the frame format and the
// error semantics.
package rpc
