package rpc_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/conclave-go/conclave/internal/rpc"
)

// Two protocols share one port: a raw stream protocol on byte 'S' and a
// request/response service on byte 'R'.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux, err := rpc.NewMux(ln, rpc.MuxConfig{}) // set TLS to a config from rpc.MutualTLS for mutual TLS
	if err != nil {
		panic(err)
	}
	streams := mux.Listen('S') // e.g. Raft's stream layer
	rpcLn := mux.Listen('R')
	go func() { _ = mux.Serve() }()
	defer mux.Close()
	_ = streams

	const methodUpper = 1
	srv, err := rpc.NewServer(rpcLn, func(ctx context.Context, method uint8, req []byte) ([]byte, error) {
		if method != methodUpper {
			return nil, rpc.Errorf(rpc.CodeUnknownMethod, "no method %d", method)
		}
		return []byte(strings.ToUpper(string(req))), nil
	}, rpc.ServerConfig{})
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve() }()
	defer srv.Close()

	client, err := rpc.NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
		return rpc.DialByte(ctx, nil, addr, 'R', nil)
	}, rpc.ClientConfig{})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	resp, err := client.Call(context.Background(), mux.Addr().String(), methodUpper, []byte("hello"))
	fmt.Println(string(resp), err)

	_, err = client.Call(context.Background(), mux.Addr().String(), 7, nil)
	code, _ := rpc.ErrorCode(err)
	fmt.Println(code == rpc.CodeUnknownMethod)
	// Output:
	// HELLO <nil>
	// true
}
