package faultnet_test

import (
	"fmt"
	"time"

	"github.com/conclave-go/conclave/internal/faultnet"
)

func Example() {
	fn := faultnet.New(1, nil)
	defer fn.Close()

	a, _ := fn.Host("a").ListenPacket("udp", "127.0.0.1:0")
	b, _ := fn.Host("b").ListenPacket("udp", "127.0.0.1:0")

	_ = fn.Partition([]string{"a"}, []string{"b"})
	_, _ = a.WriteTo([]byte("lost in the partition"), b.LocalAddr())
	fn.Heal()
	_, _ = a.WriteTo([]byte("hello"), b.LocalAddr())

	buf := make([]byte, 64)
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	k, _, _ := b.ReadFrom(buf)
	fmt.Println(string(buf[:k]))

	st := fn.LinkStats("a", "b")
	fmt.Println("sent", st.PacketsSent, "dropped", st.PacketsDropped)
	// Output:
	// hello
	// sent 2 dropped 1
}
