package collective

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/kizuna-hpc/kizuna/internal/diag"
	"github.com/kizuna-hpc/kizuna/transport"
)

// Error kinds counted by kizuna_errors_total, indices of errorKinds.
const (
	kindTimeout = iota
	kindPeerLost
	kindMismatch
	kindAborted
	kindClosed
	kindCancelled
	kindOther
)

var errorKinds = [...]string{
	kindTimeout: "timeout", kindPeerLost: "peer_lost", kindMismatch: "mismatch", kindAborted: "aborted",
	kindClosed: "closed", kindCancelled: "cancelled", kindOther: "other",
}

// errorKind classifies a failed operation's error for the metrics.
func errorKind(err error) int {
	var (
		pe *transport.PeerError
		re *RemoteError
	)
	switch {
	case errors.Is(err, ErrMismatch):
		return kindMismatch
	case errors.Is(err, ErrAborted):
		return kindAborted
	case errors.Is(err, ErrClosed):
		return kindClosed
	case errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, context.Canceled):
		return kindCancelled
	case errors.As(err, &pe), errors.As(err, &re) && re.Lost >= 0:
		return kindPeerLost
	}
	return kindOther
}

// commMetrics are a communicator's Prometheus metrics, on a registry of its
// own; a communicator split from it (Split, Shrink) registers its metrics
// on the same registry, told apart by the comm label, and removes them
// when it closes. The per-peer and per-kind children are resolved when the
// communicator starts, and each (op, algorithm) latency child the first
// time that pair runs, so updating them allocates nothing.
type commMetrics struct {
	c   *Comm
	reg *prometheus.Registry
	// shared: reg is an ancestor's; close unregisters own from it.
	shared bool
	own    []prometheus.Collector

	latencyVec *prometheus.HistogramVec
	latency    [16][32]prometheus.Observer // [coll][algo], resolved on first use
	sentTotal  []prometheus.Counter        // by communicator rank
	recvTotal  []prometheus.Counter
	errTotal   [len(errorKinds)]prometheus.Counter
	inflight   prometheus.Gauge
	peerUp     []prometheus.Gauge

	// The HTTP server of KIZUNA_METRICS_ADDR, when there is one.
	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup
	serr error // from Serve, read after wg.Wait
}

// Latency buckets: 12 bounds from 10 us to about 42 s (10 us x 4^11), each
// four times the last.
var latencyBuckets = prometheus.ExponentialBuckets(10e-6, 4, 12)

func newCommMetrics(c *Comm) *commMetrics {
	m := newMetricsIn(c, prometheus.NewRegistry())
	m.reg.MustRegister(m.own...)
	return m
}

// childMetrics registers the metrics of ch, split from m's communicator, on
// m's registry; nil if that fails (the same labels already registered).
func (m *commMetrics) childMetrics(ch *Comm) *commMetrics {
	cm := newMetricsIn(ch, m.reg)
	cm.shared = true
	for i, col := range cm.own {
		if err := m.reg.Register(col); err != nil {
			for _, done := range cm.own[:i] {
				m.reg.Unregister(done)
			}
			ch.log.Warn("metrics of the split communicator not registered", "err", err)
			return nil
		}
	}
	return cm
}

func newMetricsIn(c *Comm, reg *prometheus.Registry) *commMetrics {
	m := &commMetrics{c: c, reg: reg}
	tr := c.ep.Name()
	constLabels := prometheus.Labels{"rank": strconv.Itoa(c.rank), "comm": strconv.FormatUint(uint64(c.id), 10)}
	m.latencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "kizuna", Name: "operation_duration_seconds",
		Help:        "Time from start to end of a collective operation on this rank, by operation and algorithm.",
		ConstLabels: constLabels, Buckets: latencyBuckets,
	}, []string{"op", "algo"})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kizuna", Name: "sent_bytes_total",
		Help:        "Payload bytes sent to each peer by collective operations.",
		ConstLabels: constLabels,
	}, []string{"peer", "transport"})
	recv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kizuna", Name: "received_bytes_total",
		Help:        "Payload bytes received from each peer by collective operations.",
		ConstLabels: constLabels,
	}, []string{"peer", "transport"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kizuna", Name: "errors_total",
		Help:        "Collective operations that failed, by kind (timeout, peer_lost, mismatch, aborted, closed, cancelled, other).",
		ConstLabels: constLabels,
	}, []string{"kind"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "kizuna", Name: "operations_in_flight",
		Help:        "Collective operations running on this rank.",
		ConstLabels: constLabels,
	})
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "kizuna", Name: "peer_connection_up",
		Help:        "1 while the connection to the peer is usable, 0 once it was lost.",
		ConstLabels: constLabels,
	}, []string{"peer", "transport"})
	broken := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "kizuna", Name: "communicator_broken",
		Help:        "1 once the communicator is broken (failed, aborted or closed), else 0.",
		ConstLabels: constLabels,
	}, func() float64 {
		if c.Err() != nil {
			return 1
		}
		return 0
	})
	m.own = []prometheus.Collector{m.latencyVec, sent, recv, errs, m.inflight, up, broken}
	m.sentTotal = make([]prometheus.Counter, c.size)
	m.recvTotal = make([]prometheus.Counter, c.size)
	m.peerUp = make([]prometheus.Gauge, c.size)
	for p := range c.size {
		if p == c.rank {
			continue
		}
		ps, pt := strconv.Itoa(p), peerTransport(c, p, tr)
		m.sentTotal[p] = sent.WithLabelValues(ps, pt)
		m.recvTotal[p] = recv.WithLabelValues(ps, pt)
		m.peerUp[p] = up.WithLabelValues(ps, pt)
		m.peerUp[p].Set(1)
	}
	for i, k := range errorKinds {
		m.errTotal[i] = errs.WithLabelValues(k)
	}
	return m
}

// peerTransport names the transport that carries traffic to peer: the
// route's own, for an endpoint that routes each peer over its own medium
// (shared memory on this host, TCP elsewhere), else tr.
func peerTransport(c *Comm, peer int, tr string) string {
	if r, ok := c.ep.(interface{ Route(int) transport.Endpoint }); ok && peer < len(c.peers) {
		if e := r.Route(c.peers[peer]); e != nil {
			return e.Name()
		}
	}
	return tr
}

func (m *commMetrics) sent(peer, n int) {
	if peer >= 0 && peer < len(m.sentTotal) && m.sentTotal[peer] != nil {
		m.sentTotal[peer].Add(float64(n))
	}
}

func (m *commMetrics) received(peer, n int) {
	if peer >= 0 && peer < len(m.recvTotal) && m.recvTotal[peer] != nil {
		m.recvTotal[peer].Add(float64(n))
	}
}

// end records a finished operation that took d nanoseconds.
func (m *commMetrics) end(cl *call, d int64, err error) {
	m.inflight.Dec()
	var obs prometheus.Observer
	if int(cl.coll) < len(m.latency) && int(cl.algo) < len(m.latency[0]) {
		obs = m.latency[cl.coll][cl.algo]
		if obs == nil {
			obs = m.latencyVec.WithLabelValues(cl.coll.String(), cl.algo.String())
			m.latency[cl.coll][cl.algo] = obs
		}
	} else {
		obs = m.latencyVec.WithLabelValues(cl.coll.String(), cl.algo.String())
	}
	obs.Observe(float64(d) / 1e9)
	if err == nil {
		return
	}
	kind := errorKind(err)
	m.errTotal[kind].Inc()
	if kind == kindPeerLost {
		var oe *OpError
		if errors.As(err, &oe) && oe.Peer >= 0 && oe.Peer < len(m.peerUp) && m.peerUp[oe.Peer] != nil {
			m.peerUp[oe.Peer].Set(0)
		}
		var re *RemoteError
		if errors.As(err, &re) && re.Lost >= 0 && re.Lost < len(m.peerUp) && m.peerUp[re.Lost] != nil {
			m.peerUp[re.Lost].Set(0)
		}
	}
}

// serve starts the HTTP server of /metrics and /debug/flight on addr
// (host:port; this rank listens on port+rank, or any free port for port 0).
func (m *commMetrics) serve(addr string, o *observer) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s=%q: want host:port", ErrInvalid, EnvMetricsAddr, addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("%w: %s=%q: bad port", ErrInvalid, EnvMetricsAddr, addr)
	}
	if port > 0 {
		port += m.c.rank
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("collective: rank %d: metrics server: %w", m.c.rank, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/debug/flight", func(w http.ResponseWriter, r *http.Request) {
		rec := m.c.flightRecord(diag.ReasonHTTP)
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		enc.Encode(&rec)
	})
	m.ln = ln
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.serr = err
		}
	}()
	m.c.log.Info("serving metrics", "addr", ln.Addr().String(), "paths", "/metrics /debug/flight")
	return nil
}

func (m *commMetrics) close() error {
	if m.shared {
		for _, col := range m.own {
			m.reg.Unregister(col)
		}
	}
	if m.srv == nil {
		return nil
	}
	err := m.srv.Close()
	m.wg.Wait()
	if err == nil && m.serr != nil {
		err = fmt.Errorf("collective: metrics server: %w", m.serr)
	}
	return err
}

// Metrics returns the communicator's Prometheus registry, to be served by
// the program's own HTTP server (promhttp.HandlerFor) or gathered directly;
// nil unless Config.Metrics or Config.MetricsAddr (KIZUNA_METRICS_ADDR)
// turned metrics on. The registry is the communicator's own, never
// prometheus.DefaultRegisterer, so several communicators in one process
// do not collide.
func (c *Comm) Metrics() prometheus.Gatherer {
	if c.obs == nil || c.obs.metrics == nil {
		return nil
	}
	return c.obs.metrics
}

// Gather brings the connection gauges up to date and gathers the registry.
// A peer this rank found lost (a broken link or silent heartbeat, seen by
// the failure detector while no operation was using it) has its
// peer_connection_up at 0 even though no operation failed on it.
func (m *commMetrics) Gather() ([]*dto.MetricFamily, error) {
	if re := m.c.failureNotice(); re != nil && re.Origin == m.c.rank && re.Lost >= 0 && re.Lost < len(m.peerUp) && m.peerUp[re.Lost] != nil {
		m.peerUp[re.Lost].Set(0)
	}
	return m.reg.Gather()
}

// MetricsAddr returns the address the communicator serves /metrics and
// /debug/flight on, or "" when it serves none.
func (c *Comm) MetricsAddr() string {
	if c.obs == nil || c.obs.metrics == nil || c.obs.metrics.ln == nil {
		return ""
	}
	return c.obs.metrics.ln.Addr().String()
}
