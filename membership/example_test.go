package membership_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/conclave-go/conclave/membership"
)

// Two nodes on the loopback interface: the second joins the first through
// it as a seed, and the first sees it join.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := membership.Config{
		Name:     "alpha",
		BindAddr: "127.0.0.1:0", // any free port
		Profile:  membership.Local,
	}
	alpha, err := membership.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := alpha.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer alpha.Close()
	sub := alpha.Subscribe(0)
	defer sub.Close()

	cfg.Name = "beta"
	cfg.Seeds = []string{alpha.Local().Address()}
	cfg.WaitForJoin = true
	cfg.Tags = map[string]string{"zone": "b"}
	beta, err := membership.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := beta.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer beta.Close()

	for ev := range sub.Events() {
		if ev.Type == membership.EventJoin && ev.Member.Name == "beta" {
			fmt.Println(ev, "zone="+ev.Member.Tags["zone"])
			break
		}
	}
	for _, m := range alpha.Members() {
		fmt.Println(m.Name, m.Status)
	}
	// Output:
	// join beta zone=b
	// alpha alive
	// beta alive
}
