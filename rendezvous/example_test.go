package rendezvous_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"sync"

	"github.com/kizuna-hpc/kizuna/rendezvous"
)

func Example() {
	ctx := context.Background()
	srv, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// Every rank of job 42 connects in the job's namespace.
	c, err := rendezvous.Dial(ctx, srv.Addr(), "job-42")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.Set(ctx, "algo", []byte("ring")); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, "algo")
	if err != nil {
		log.Fatal(err)
	}
	n, err := c.Add(ctx, "ready", 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("algo=%s ready=%d\n", v, n)

	// Wait blocks, on the server, until another rank sets the keys.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Wait(ctx, "go"); err != nil {
			log.Fatal(err)
		}
		fmt.Println("go")
	})
	if err := c.Set(ctx, "go", nil); err != nil {
		log.Fatal(err)
	}
	wg.Wait()
	// Output:
	// algo=ring ready=1
	// go
}

func ExampleJoin() {
	ctx := context.Background()
	srv, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// Three ranks, normally three processes, join communicator 0.
	const size = 3
	lists := make([][]rendezvous.Member, size)
	var wg sync.WaitGroup
	for rank := range size {
		wg.Go(func() {
			c, err := rendezvous.Dial(ctx, srv.Addr(), "job-42")
			if err != nil {
				log.Fatal(err)
			}
			defer c.Close()
			self := rendezvous.Member{Addr: fmt.Sprintf("10.0.0.%d:7000", rank), Host: fmt.Sprintf("node%d", rank)}
			if lists[rank], err = rendezvous.Join(ctx, c, "comm/0/", rank, size, self); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	for _, m := range lists[0] {
		fmt.Println(m.Rank, m.Addr, m.Host)
	}
	// Output:
	// 0 10.0.0.0:7000 node0
	// 1 10.0.0.1:7000 node1
	// 2 10.0.0.2:7000 node2
}
