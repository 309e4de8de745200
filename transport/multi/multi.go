package multi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Endpoint sends to each peer through the endpoint routed to it. Every
// routed endpoint must deliver into the same Mux, of the same rank and size.
// Its methods are safe for concurrent use when the routed endpoints' are.
type Endpoint struct {
	mux    *transport.Mux
	routes []transport.Endpoint // [peer]; nil at this rank
	parts  []transport.Endpoint // distinct routed endpoints, in order of first use
	name   string
}

var _ transport.Endpoint = (*Endpoint)(nil)

// New returns the endpoint that sends to peer p through routes[p]
// (routes[rank] is ignored). Every route must have mux's rank and size and
// deliver into mux. The name joins the distinct routes' names with "+" in
// lexical order ("shm+tcp"). Close closes every route.
func New(mux *transport.Mux, routes []transport.Endpoint) (*Endpoint, error) {
	rank, size := mux.Rank(), mux.Size()
	if len(routes) != size {
		return nil, fmt.Errorf("multi: %d routes for %d ranks", len(routes), size)
	}
	e := &Endpoint{mux: mux, routes: make([]transport.Endpoint, size)}
	var names []string
	for p, r := range routes {
		if p == rank {
			continue
		}
		if r == nil {
			return nil, fmt.Errorf("multi: rank %d: no route to rank %d", rank, p)
		}
		if r.Mux() != mux || r.Rank() != rank || r.Size() != size {
			return nil, fmt.Errorf("multi: rank %d: the route to rank %d (%s) delivers elsewhere", rank, p, r.Name())
		}
		e.routes[p] = r
		if !slices.Contains(e.parts, r) {
			e.parts = append(e.parts, r)
			names = append(names, r.Name())
		}
	}
	sort.Strings(names) // the same name on every rank, whatever its routes' order
	e.name = strings.Join(names, "+")
	if e.name == "" && len(routes) > 0 && routes[rank] != nil {
		e.name = routes[rank].Name() // a single rank
	}
	return e, nil
}

func (e *Endpoint) Rank() int           { return e.mux.Rank() }
func (e *Endpoint) Size() int           { return e.mux.Size() }
func (e *Endpoint) Name() string        { return e.name }
func (e *Endpoint) Mux() *transport.Mux { return e.mux }

// Route returns the endpoint that carries frames to peer (nil for this rank
// or a rank out of range).
func (e *Endpoint) Route(peer int) transport.Endpoint {
	if peer < 0 || peer >= len(e.routes) {
		return nil
	}
	return e.routes[peer]
}

// Send sends through peer's route; see transport.Endpoint.
func (e *Endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if peer < 0 || peer >= len(e.routes) || e.routes[peer] == nil {
		return fmt.Errorf("multi: send from rank %d: invalid peer %d", e.Rank(), peer)
	}
	return e.routes[peer].Send(ctx, peer, h, payload)
}

// Close closes every route, in order of first use, and returns their
// errors joined.
func (e *Endpoint) Close() error {
	var errs []error
	for _, r := range e.parts {
		if err := r.Close(); err != nil && !errors.Is(err, transport.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
