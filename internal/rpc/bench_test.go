package rpc

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkCall measures a round trip of a 64-byte echo over loopback TCP
// with the given number of concurrent callers sharing one client.
func BenchmarkCall(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ln, err := listenBench()
			if err != nil {
				b.Fatal(err)
			}
			srv := mustServer(b, ln, echo, ServerConfig{})
			go func() { _ = srv.Serve() }()
			defer srv.Close()
			c := mustClient(b, plainDial, ClientConfig{})
			defer c.Close()
			addr, req := ln.Addr().String(), make([]byte, 64)
			ctx := context.Background()
			if _, err := c.Call(ctx, addr, methodEcho, req); err != nil {
				b.Fatal(err)
			}

			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per, extra := b.N/callers, b.N%callers
			for g := range callers {
				n := per
				if g < extra {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if _, err := c.Call(ctx, addr, methodEcho, req); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
