package collective

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/transport/emu"
)

// Transport names accepted in Config.Transport and KIZUNA_TRANSPORT.
const (
	TransportTCP    = "tcp"
	TransportInproc = "inproc"
	// TransportShm links every pair of ranks through shared memory; every
	// rank must be on one host.
	TransportShm = "shm"
	// TransportAuto (the default) chooses per peer: shared memory for
	// ranks on this host, TCP for the others.
	TransportAuto = "auto"
)

// Defaults.
const (
	DefaultTimeout    = 10 * time.Minute
	DefaultChunkBytes = 512 << 10
)

// Config describes one rank of a communicator. The zero value of every
// optional field means "the default".
type Config struct {
	Rank      int // this process's rank, 0 <= Rank < Size
	Size      int // number of ranks
	LocalRank int // rank among the ranks on this host (informational)
	LocalSize int // ranks on this host (informational)
	// MasterAddr is the host:port of the rendezvous store. Rank 0 serves it
	// there unless ExternalStore is set (a launcher serves it). Not needed
	// when Size is 1. "file://PATH", for ranks on one host only, makes rank
	// 0 serve it on loopback and publish its address in the file PATH
	// (ConfigFromEnv picks this under a launcher that gives no address).
	MasterAddr    string
	ExternalStore bool
	// JobID namespaces the store, so that two jobs sharing one store never
	// mix, and is checked when peers connect. Default "default".
	JobID string
	// Token is the job's shared secret (KIZUNA_TOKEN, which `kizuna run`
	// sets): every connection, to the rendezvous store and between ranks,
	// proves that both ends hold it by an HMAC-SHA256 challenge-response, so
	// the token never crosses the wire, and one that does not is refused.
	// Every rank must have the same token. "" leaves the job open to anyone
	// who can reach its ports; New then logs a warning.
	Token string
	// Transport is TransportAuto (default: shared memory to the ranks on
	// this host, TCP to the others; Comm.Transport says "shm", "tcp" or
	// "shm+tcp"), TransportShm (shared memory only: every rank on one
	// host), TransportTCP (TCP only) or TransportInproc (goroutine ranks
	// built by NewLocal/RunLocal only). KIZUNA_TRANSPORT sets it.
	Transport string
	// BindAddr is the address the TCP transport listens on (host or
	// host:port); "" means KIZUNA_BIND_ADDR, KIZUNA_IFNAME, else loopback.
	BindAddr       string
	SocketsPerPeer int // TCP connections per peer; 0 = KIZUNA_SOCKETS_PER_PEER or the transport default
	// Timeout bounds every operation (and communicator start) in addition to
	// the caller's context. Default DefaultTimeout.
	Timeout time.Duration
	// Heartbeat is the failure detector's interval: an idle TCP link
	// carries a heartbeat frame, and a peer from which nothing arrives for
	// two intervals while this rank waits on it (stopped, hung, cut off;
	// over shared memory: its process seen stopped) is declared lost,
	// which fails every operation of the communicators it belongs to. 0
	// means KIZUNA_HEARTBEAT, else 2s (tcp.DefaultHeartbeat,
	// shm.DefaultHeartbeat); negative turns the detector off.
	Heartbeat time.Duration
	// Checksum is ChecksumCRC32C to carry the CRC-32C of every data frame's
	// payload and check it before the payload is used (a corrupted one
	// fails with ErrCorrupt), or ChecksumOff. "" means KIZUNA_CHECKSUM,
	// else off. Every rank must use the same setting.
	Checksum string
	// Algo restricts or forces algorithms, with NCCL_ALGO's grammar
	// ("ring", "allreduce:tree;ring", "^tree"). "" lets the cost model choose.
	Algo string
	// ChunkBytes caps one message so that transfers pipeline. Default DefaultChunkBytes.
	ChunkBytes int
	// Costs overrides the cost model's parameters for the transport (zero = built-in).
	Costs schedule.Costs
	// MeasureCosts measures the cost model's parameters when the
	// communicator starts (Calibrate), instead of using Costs or the
	// built-in values. KIZUNA_COSTS=measure sets it.
	MeasureCosts bool
	// Topology is the network the ranks run on, in topology.Parse's grammar
	// ("torus:4x4", "dragonfly:groups=4,routers=2,nodes=2", "fugaku", ...);
	// "" or "flat" means none. With one, rings follow a one-hop embedding and
	// the topology-aware all-reduces (torus, hier, swing, multiring) can be
	// chosen. Every rank must pass the same Topology and Placement; a digest
	// checked when the communicator starts says so if they do not.
	Topology string
	// Placement maps ranks to the topology's nodes (topology.PlaceBy):
	// "linear" or "random:SEED", each with an optional ":K" ranks per node;
	// "file:PATH", a JSON placement file mapping host names (Host) or ranks
	// to coordinates; "coord", every rank's Coord; "coords:C0;C1;..." the
	// coordinates of each rank. "" takes Coord when every rank has one,
	// else linear. The ranks' Host and Coord are gathered when the
	// communicator starts, so every rank builds the same placement.
	Placement string
	// Coord is the coordinates of this rank's node in Topology ("3,0,7"),
	// from KIZUNA_COORD; used by the placements "coord" and "". Ranks on one
	// node give the same Coord.
	Coord string
	// Host names this rank's machine for a placement file; default
	// os.Hostname(). Two ranks that give the same Coord must give the same
	// Host.
	Host string
	// FlightSize is how many operations the flight recorder keeps
	// (KIZUNA_FLIGHT_SIZE); 0 means DefaultFlightSize, negative turns it off.
	FlightSize int
	// FlightDir (KIZUNA_FLIGHT_DIR) is where the flight record is written as
	// flight-rank<R>-comm<ID>.json when an operation times out and, for a
	// communicator made by NewFromEnv, on SIGUSR1. "" writes the SIGUSR1
	// record as one JSON line on stderr and logs a one-line summary on a
	// timeout. `kizuna run` sets it to a directory of its own.
	FlightDir string
	// MetricsAddr (KIZUNA_METRICS_ADDR, host:port) serves Prometheus
	// metrics at /metrics and the flight record at /debug/flight; rank r
	// listens on port+r (port 0: any free port, see Comm.MetricsAddr).
	// Setting it turns Metrics on.
	MetricsAddr string
	// Metrics keeps Prometheus metrics on a registry of the communicator's
	// own (Comm.Metrics) without serving them.
	Metrics bool
	// Timeline (KIZUNA_TIMELINE) is a directory where Close writes a Chrome
	// trace of every operation, its steps, sends and receive waits, as
	// timeline-rank<R>-comm<ID>.json. "" records nothing.
	Timeline string
	// Emulate imposes a network model on goroutine ranks (NewLocal,
	// RunLocal): an emulation spec, "TOPOLOGY;bw=RATE;lat=DURATION"
	// (transport/emu.ParseSpec), under which every frame reserves the
	// directed links of its route, shared with every other rank's frames,
	// and waits the per-hop latency. An empty Topology becomes the emulated
	// one. KIZUNA_EMULATE sets it; New ignores it (separate processes share
	// no link state).
	Emulate string
	emulate *emu.Network // built by NewLocal from Emulate
	// Logger receives the runtime's structured logs; nil = slog.Default()
	// filtered by KIZUNA_LOG.
	Logger *slog.Logger

	launch       *launchInfo // the launcher ConfigFromEnv detected, for the start-up log line
	dumpOnSignal bool        // ConfigFromEnv: dump the flight record on SIGUSR1
}

// Environment variables read by ConfigFromEnv.
const (
	EnvRank           = "KIZUNA_RANK"
	EnvWorldSize      = "KIZUNA_WORLD_SIZE"
	EnvLocalRank      = "KIZUNA_LOCAL_RANK"
	EnvLocalWorldSize = "KIZUNA_LOCAL_WORLD_SIZE"
	EnvMasterAddr     = "KIZUNA_MASTER_ADDR"
	EnvJobID          = "KIZUNA_JOB_ID"
	EnvTimeout        = "KIZUNA_TIMEOUT"
	EnvAlgo           = "KIZUNA_ALGO"
	EnvTransport      = "KIZUNA_TRANSPORT"
	EnvChunkBytes     = "KIZUNA_CHUNK_BYTES"
	EnvExternalStore  = "KIZUNA_EXTERNAL_STORE"
	EnvCosts          = "KIZUNA_COSTS"
	EnvLog            = "KIZUNA_LOG"
	EnvTopology       = "KIZUNA_TOPOLOGY"
	EnvPlacement      = "KIZUNA_PLACEMENT"
	EnvCoord          = "KIZUNA_COORD"
	EnvToken          = "KIZUNA_TOKEN"
)

// InLaunchedJob reports whether the environment says this process is one
// rank of a launched job: KIZUNA_RANK and KIZUNA_WORLD_SIZE set, or another
// launcher's variables (see ConfigFromEnv), even with one rank.
func InLaunchedJob() bool {
	return os.Getenv(EnvRank) != "" && os.Getenv(EnvWorldSize) != "" || launcherPresent(os.LookupEnv)
}

// ConfigFromEnv builds a Config from KIZUNA_* variables. A variable that is
// set but malformed is an error naming it.
//
// Without KIZUNA_RANK, it reads rank, size, local rank and size and job id
// from the launcher that started the process: torchrun (RANK, WORLD_SIZE,
// TORCHELASTIC_RUN_ID), Open MPI (OMPI_COMM_WORLD_*), MPICH or Intel MPI
// (PMI_RANK, PMI_SIZE), PMIx (PMIX_RANK), Slurm's srun (SLURM_PROCID,
// SLURM_STEP_ID, ...), torch-style RANK and WORLD_SIZE, or a Kubernetes
// indexed Job (JOB_COMPLETION_INDEX with KIZUNA_WORLD_SIZE), the first
// present in that order. The rendezvous address is KIZUNA_MASTER_ADDR,
// else MASTER_ADDR:MASTER_PORT+1; without either, ranks that the launcher
// places on one host find each other through a file (see Config.MasterAddr).
func ConfigFromEnv() (Config, error) {
	return configFromLookup(os.LookupEnv)
}

func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	var cfg Config
	if err := knobsFromLookup(&cfg, lookup, true); err != nil {
		return cfg, err
	}
	// Whichever launcher gave the identity, the token is Kizuna's own.
	cfg.Token, _ = lookup(EnvToken)
	cfg.dumpOnSignal = true
	return cfg, nil
}

// knobsFromLookup reads the environment into cfg. With identity false it
// reads only the tuning knobs (timeout, algorithm, chunk size, costs), as
// NewLocal does for goroutine ranks.
func knobsFromLookup(cfg *Config, lookup func(string) (string, bool), identity bool) error {
	if identity {
		found, err := launcherFromLookup(cfg, lookup)
		if err != nil {
			return err
		}
		if found { // the launcher gave the identity; read only the knobs below
			identity = false
		}
	}
	var err error
	intVar := func(name string, dst *int, required bool) {
		if err != nil {
			return
		}
		v, ok := lookup(name)
		if !ok || v == "" {
			if required {
				err = fmt.Errorf("%w: %s is not set", ErrInvalid, name)
			}
			return
		}
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil {
			err = fmt.Errorf("%w: %s=%q is not an integer", ErrInvalid, name, v)
			return
		}
		*dst = n
	}
	if identity {
		intVar(EnvRank, &cfg.Rank, true)
		intVar(EnvWorldSize, &cfg.Size, true)
		cfg.LocalRank, cfg.LocalSize = -1, -1
		intVar(EnvLocalRank, &cfg.LocalRank, false)
		intVar(EnvLocalWorldSize, &cfg.LocalSize, false)
	}
	intVar(EnvChunkBytes, &cfg.ChunkBytes, false)
	intVar(EnvFlightSize, &cfg.FlightSize, false)
	if err != nil {
		return err
	}
	if identity {
		cfg.MasterAddr, _ = lookup(EnvMasterAddr)
		cfg.JobID, _ = lookup(EnvJobID)
		cfg.Transport, _ = lookup(EnvTransport)
		if v, ok := lookup(EnvExternalStore); ok && v != "" && v != "0" && !strings.EqualFold(v, "false") {
			cfg.ExternalStore = true
		}
	}
	if v, ok := lookup(EnvAlgo); ok {
		cfg.Algo = v
	}
	if v, ok := lookup(EnvTopology); ok {
		cfg.Topology = v
	}
	if v, ok := lookup(EnvPlacement); ok {
		cfg.Placement = v
	}
	if v, ok := lookup(EnvCoord); ok {
		cfg.Coord = strings.TrimSpace(v)
	}
	cfg.FlightDir, _ = lookup(EnvFlightDir)
	cfg.MetricsAddr, _ = lookup(EnvMetricsAddr)
	cfg.Timeline, _ = lookup(EnvTimeline)
	if v, ok := lookup(EnvTimeout); ok && v != "" {
		d, perr := ParseDuration(v)
		if perr != nil {
			return fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvTimeout, v, perr)
		}
		cfg.Timeout = d
	}
	if v, ok := lookup(EnvCosts); ok && strings.TrimSpace(v) == "measure" {
		cfg.MeasureCosts = true
	} else if ok && v != "" {
		k, perr := ParseCosts(v)
		if perr != nil {
			return fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvCosts, v, perr)
		}
		cfg.Costs = k
	}
	return nil
}

// ParseDuration accepts a Go duration ("90s", "10m") or a plain number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// ParseCosts parses "alpha=20us,beta=0.4ns,gamma=0.1ns": alpha per message,
// beta per byte sent, gamma per byte reduced. Missing keys stay zero (zero
// means "built-in default" in Config.Costs).
func ParseCosts(s string) (schedule.Costs, error) {
	var k schedule.Costs
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return k, fmt.Errorf("%q: want name=duration", part)
		}
		d, err := parseSmallDuration(val)
		if err != nil {
			return k, fmt.Errorf("%q: %v", part, err)
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "alpha":
			k.Alpha = d
		case "beta":
			k.Beta = d
		case "gamma":
			k.Gamma = d
		default:
			return k, fmt.Errorf("%q: unknown parameter %q (want alpha, beta or gamma)", part, name)
		}
	}
	return k, nil
}

// parseSmallDuration parses a duration that may be fractional nanoseconds
// ("0.4ns") into seconds.
func parseSmallDuration(s string) (float64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		scale  float64
	}{{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return v * u.scale, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad duration %q (want e.g. 20us or 0.4ns)", s)
	}
	return v, nil
}

// loggerFromEnv returns a text logger on stderr at the KIZUNA_LOG level
// (warn by default).
func loggerFromEnv() *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv(EnvLog)) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
