package collective

// Starting under other launchers: ConfigFromEnv reads this rank's identity
// from whichever launcher started the process (Open MPI, MPICH/Intel MPI,
// PMIx, Slurm, torchrun, a Kubernetes indexed Job) when KIZUNA_RANK is not
// set, and, when every rank is on one host and nobody gave a rendezvous
// address, lets the ranks find each other through a file (see
// openRendezvous).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// fileAddrPrefix marks a Config.MasterAddr that names a file instead of a
// host:port: rank 0 serves the store on loopback and writes its address
// there; the other ranks, on the same host, read it.
const fileAddrPrefix = "file://"

const (
	// addrFileMax bounds what is read from an address file.
	addrFileMax = 4 << 10
	// addrFileNonceKey holds, in the job's namespace of the store, the nonce
	// that rank 0 also wrote into the address file: a rank that reads the
	// file checks that the store at that address is the one that wrote it.
	addrFileNonceKey = "launch/addr-file-nonce"
	// storeProbeTimeout bounds one attempt to reach the store an address
	// file names; a stale file is retried after it.
	storeProbeTimeout = time.Second
	// addrPollMax caps the pause between two reads of the address file.
	addrPollMax = 100 * time.Millisecond
)

// launchInfo is what ConfigFromEnv learned about the launcher, for the
// start-up log line (logLaunch).
type launchInfo struct {
	name       string   // "kizuna", "openmpi", "pmi", "pmix", "slurm", "torchrun", "torch", "kubernetes"
	also       []string // other launchers whose variables filled gaps
	nodeRank   int      // -1: unknown
	nodes      int      // -1: unknown
	masterFrom string   // where MasterAddr came from, e.g. "KIZUNA_MASTER_ADDR"
	singleHost string   // why all ranks are on one host, for a file rendezvous
}

// launcher is one launcher's view of this rank, read from its variables.
type launcher struct {
	name             string
	title            string // for messages: "Open MPI"
	rank, size       int    // size -1: the launcher does not say
	rankVar, sizeVar string // where rank and size came from, for messages
	localRank        int    // -1: unknown
	localSize        int    // -1: unknown
	nodeRank, nodes  int    // -1: unknown
	nodesVar         string
	jobID            string // the launcher's job id, "" if it gives none
	// instance tells apart concurrent jobs whose ids may collide (Open
	// MPI's 16-bit job family); same on every rank of the job.
	instance   string
	masterAddr string // a rendezvous address the launcher gives (torchrun)
	masterFrom string
	// hint says how to hand every rank KIZUNA_MASTER_ADDR with this launcher.
	hint string
	also []string // launchers merged in by detectLauncher
}

// detector recognises one launcher: it is present when every marker
// variable is set and not empty.
type detector struct {
	name    string
	markers []string
	read    func(env) (launcher, error)
}

// detectors in order of precedence. torchrun's agent comes first because it
// is always the innermost launcher (srun or mpirun may start torchrun,
// never the reverse), so its workers also carry the outer launcher's
// variables; plain RANK/WORLD_SIZE without it come after Slurm. Open MPI
// sets PMIX_RANK too, and srun --mpi=pmix|pmi2 sets PMIX_RANK or PMI_RANK,
// so an MPI launcher precedes Slurm, whose variables then fill the gaps
// (merge).
var detectors = []detector{
	{"torchrun", []string{"RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"}, readTorch},
	{"openmpi", []string{"OMPI_COMM_WORLD_RANK"}, readOpenMPI},
	{"pmi", []string{"PMI_RANK"}, readPMI},
	{"pmix", []string{"PMIX_RANK"}, readPMIx},
	// SLURM_STEP_ID tells an srun task from an sbatch script, which has
	// SLURM_PROCID=0 and SLURM_NTASKS but is not one of the tasks.
	{"slurm", []string{"SLURM_PROCID", "SLURM_STEP_ID"}, readSlurm},
	{"slurm", []string{"SLURM_PROCID", "SLURM_STEPID"}, readSlurm},
	{"torch", []string{"RANK", "WORLD_SIZE"}, readTorch},
	// An indexed Job's pods get only their index; KIZUNA_WORLD_SIZE says
	// that they form one communicator (and how large).
	{"kubernetes", []string{"JOB_COMPLETION_INDEX", EnvWorldSize}, readKubernetes},
}

// env reads variables through a lookup function (os.LookupEnv, or a map in
// tests).
type env func(string) (string, bool)

func (e env) str(name string) string {
	v, _ := e(name)
	return strings.TrimSpace(v)
}

func (e env) has(name string) bool { return e.str(name) != "" }

// int reads a non-negative integer into dst; it leaves dst alone when the
// variable is unset and reports whether it was set.
func (e env) int(name string, dst *int) (bool, error) {
	v := e.str(name)
	if v == "" {
		return false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return false, fmt.Errorf("%w: %s=%q is not a non-negative integer", ErrInvalid, name, v)
	}
	*dst = n
	return true, nil
}

// first reads the first of names that is set into dst and returns its name
// ("" if none is set).
func (e env) first(dst *int, names ...string) (string, error) {
	for _, n := range names {
		if ok, err := e.int(n, dst); err != nil || ok {
			return n, err
		}
	}
	return "", nil
}

func newLauncher(name, title string) launcher {
	return launcher{name: name, title: title, size: -1, localRank: -1, localSize: -1, nodeRank: -1, nodes: -1}
}

// identity reads rank and size from rankVar and sizeVar, both required.
func (l *launcher) identity(e env, rankVar, sizeVar string) error {
	l.rankVar, l.sizeVar = rankVar, sizeVar
	if _, err := e.int(rankVar, &l.rank); err != nil {
		return err
	}
	ok, err := e.int(sizeVar, &l.size)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s is set (%s) but %s is not", ErrInvalid, rankVar, l.title, sizeVar)
	}
	return nil
}

func readOpenMPI(e env) (launcher, error) {
	l := newLauncher("openmpi", "Open MPI")
	l.hint = "pass it with mpirun -x KIZUNA_MASTER_ADDR=host:port"
	if err := l.identity(e, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"); err != nil {
		return l, err
	}
	if _, err := e.int("OMPI_COMM_WORLD_LOCAL_RANK", &l.localRank); err != nil {
		return l, err
	}
	if _, err := e.int("OMPI_COMM_WORLD_LOCAL_SIZE", &l.localSize); err != nil {
		return l, err
	}
	// OMPI_COMM_WORLD_NODE_RANK is a per-node rank across jobs, not the
	// index of the node; Open MPI gives no node index.
	var err error
	if l.nodesVar, err = e.first(&l.nodes, "OMPI_MCA_orte_num_nodes"); err != nil {
		return l, err
	}
	// Open MPI 4.1 sets OMPI_MCA_ess_base_jobid and PMIX_NAMESPACE to the
	// same number; older ones OMPI_MCA_orte_ess_jobid ("family.job" or the
	// number).
	for _, v := range []string{"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE", "OMPI_MCA_orte_ess_jobid"} {
		if l.jobID = e.str(v); l.jobID != "" {
			break
		}
	}
	// The job id is a 16-bit job family and a job number; mpirun's own
	// address (with its port) tells concurrent mpiruns apart for sure.
	l.instance = e.str("OMPI_MCA_orte_hnp_uri")
	return l, nil
}

func readPMI(e env) (launcher, error) {
	l := newLauncher("pmi", "MPICH/Intel MPI (PMI)")
	l.hint = "pass it with mpiexec -genv KIZUNA_MASTER_ADDR host:port"
	if err := l.identity(e, "PMI_RANK", "PMI_SIZE"); err != nil {
		return l, err
	}
	if _, err := e.int("MPI_LOCALRANKID", &l.localRank); err != nil {
		return l, err
	}
	if _, err := e.int("MPI_LOCALNRANKS", &l.localSize); err != nil {
		return l, err
	}
	// Hydra puts no job id in the environment; srun --mpi=pmi2 does.
	l.jobID = e.str("PMI_JOBID")
	return l, nil
}

func readPMIx(e env) (launcher, error) {
	l := newLauncher("pmix", "PMIx")
	l.hint = "export it to every rank"
	l.rankVar = "PMIX_RANK"
	if _, err := e.int("PMIX_RANK", &l.rank); err != nil {
		return l, err
	}
	// PMIx keeps the size in its server, not in the environment: a later
	// launcher (Slurm) or KIZUNA_WORLD_SIZE says it.
	ok, err := e.int(EnvWorldSize, &l.size)
	if err != nil {
		return l, err
	}
	if ok {
		l.sizeVar = EnvWorldSize
	}
	l.jobID = e.str("PMIX_NAMESPACE")
	return l, nil
}

func readSlurm(e env) (launcher, error) {
	l := newLauncher("slurm", "Slurm")
	l.hint = "pass it with srun --export=ALL,KIZUNA_MASTER_ADDR=host:port"
	l.rankVar = "SLURM_PROCID"
	if _, err := e.int("SLURM_PROCID", &l.rank); err != nil {
		return l, err
	}
	var err error
	// A step may have fewer tasks than the allocation: the step's own
	// variables come first.
	if l.sizeVar, err = e.first(&l.size, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"); err != nil {
		return l, err
	}
	if l.sizeVar == "" {
		return l, fmt.Errorf("%w: SLURM_PROCID is set (Slurm) but SLURM_STEP_NUM_TASKS and SLURM_NTASKS are not", ErrInvalid)
	}
	if _, err := e.int("SLURM_LOCALID", &l.localRank); err != nil {
		return l, err
	}
	if _, err := e.int("SLURM_NODEID", &l.nodeRank); err != nil {
		return l, err
	}
	if l.nodesVar, err = e.first(&l.nodes, "SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"); err != nil {
		return l, err
	}
	node := max(l.nodeRank, 0)
	for _, v := range []string{"SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"} {
		spec := e.str(v)
		if spec == "" {
			continue
		}
		n, err := tasksOnNode(spec, node)
		if err != nil {
			return l, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, v, spec, err)
		}
		l.localSize = n
		break
	}
	job := e.str("SLURM_JOB_ID")
	if job == "" {
		job = e.str("SLURM_JOBID")
	}
	step := e.str("SLURM_STEP_ID")
	if step == "" {
		step = e.str("SLURM_STEPID")
	}
	if job != "" {
		l.jobID = job + "." + step
	}
	return l, nil
}

// tasksOnNode returns the number of tasks on node (0-based) from a Slurm
// tasks-per-node list such as "4", "2(x3),1" or "3,2", without expanding it.
func tasksOnNode(spec string, node int) (int, error) {
	for part := range strings.SplitSeq(spec, ",") {
		count, reps := part, "1"
		if i := strings.IndexByte(part, '('); i >= 0 {
			inner, ok := strings.CutSuffix(part[i+1:], ")")
			if !ok || !strings.HasPrefix(inner, "x") {
				return 0, fmt.Errorf("malformed entry %q (want N or N(xM))", part)
			}
			count, reps = part[:i], inner[1:]
		}
		c, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || c < 0 {
			return 0, fmt.Errorf("malformed entry %q (want N or N(xM))", part)
		}
		r, err := strconv.Atoi(reps)
		if err != nil || r < 1 {
			return 0, fmt.Errorf("malformed entry %q (want N or N(xM))", part)
		}
		if node < r {
			return c, nil
		}
		node -= r
	}
	return 0, fmt.Errorf("lists fewer nodes than node %d", node)
}

func readTorch(e env) (launcher, error) {
	l := newLauncher("torch", "torch-style variables (RANK, WORLD_SIZE)")
	if e.has("TORCHELASTIC_RUN_ID") {
		l.name, l.title = "torchrun", "torchrun"
	}
	l.hint = "set MASTER_ADDR and MASTER_PORT (Kizuna's store then uses MASTER_PORT+1) or KIZUNA_MASTER_ADDR=host:port on every rank"
	if err := l.identity(e, "RANK", "WORLD_SIZE"); err != nil {
		return l, err
	}
	if _, err := e.int("LOCAL_RANK", &l.localRank); err != nil {
		return l, err
	}
	if _, err := e.int("LOCAL_WORLD_SIZE", &l.localSize); err != nil {
		return l, err
	}
	// torchrun: GROUP_RANK is the node (agent) index, GROUP_WORLD_SIZE the
	// number of nodes.
	if _, err := e.int("GROUP_RANK", &l.nodeRank); err != nil {
		return l, err
	}
	var err error
	if l.nodesVar, err = e.first(&l.nodes, "GROUP_WORLD_SIZE"); err != nil {
		return l, err
	}
	l.jobID = e.str("TORCHELASTIC_RUN_ID")
	host, port := e.str("MASTER_ADDR"), e.str("MASTER_PORT")
	switch {
	case host == "" && port == "":
	case host == "":
		return l, fmt.Errorf("%w: MASTER_PORT is set but MASTER_ADDR is not", ErrInvalid)
	case port == "":
		return l, fmt.Errorf("%w: MASTER_ADDR is set but MASTER_PORT is not", ErrInvalid)
	default:
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p >= 65535 {
			return l, fmt.Errorf("%w: MASTER_PORT=%q is not a port below 65535 (Kizuna's store uses MASTER_PORT+1)", ErrInvalid, port)
		}
		// torchrun's own TCPStore listens on MASTER_PORT; Kizuna's store
		// must not collide with it.
		l.masterAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
		l.masterFrom = "MASTER_ADDR:MASTER_PORT+1"
	}
	return l, nil
}

func readKubernetes(e env) (launcher, error) {
	l := newLauncher("kubernetes", "a Kubernetes indexed Job")
	l.hint = "set KIZUNA_MASTER_ADDR=<job>-0.<headless service>:port in the pod template"
	if err := l.identity(e, "JOB_COMPLETION_INDEX", EnvWorldSize); err != nil {
		return l, err
	}
	return l, nil
}

// launcherPresent reports whether some launcher's variables are set, even
// malformed ones (ConfigFromEnv then names them).
func launcherPresent(lookup func(string) (string, bool)) bool {
	_, ok := presentDetector(env(lookup), 0)
	return ok
}

// presentDetector returns the index of the first detector at or after from
// whose markers are all set.
func presentDetector(e env, from int) (int, bool) {
outer:
	for i := from; i < len(detectors); i++ {
		for _, m := range detectors[i].markers {
			if !e.has(m) {
				continue outer
			}
		}
		return i, true
	}
	return -1, false
}

// detectLauncher returns the launcher described by the environment, or nil
// when none is. The first present detector decides rank and size; later
// ones that agree on them fill what it leaves unknown (srun --mpi=pmix sets
// PMIX_RANK, and only Slurm's variables say the size).
func detectLauncher(e env) (*launcher, error) {
	i, ok := presentDetector(e, 0)
	if !ok {
		return nil, nil
	}
	l, err := detectors[i].read(e)
	if err != nil {
		return nil, err
	}
	for j := i + 1; ; j++ {
		if j, ok = presentDetector(e, j); !ok {
			break
		}
		o, err := detectors[j].read(e)
		if err != nil || o.name == l.name || o.rank != l.rank || (l.size >= 0 && o.size >= 0 && o.size != l.size) {
			continue // a malformed or disagreeing outer launcher is not ours
		}
		l.also = append(l.also, o.name)
		if l.size < 0 {
			l.size, l.sizeVar = o.size, o.sizeVar
		}
		if l.localRank < 0 {
			l.localRank = o.localRank
		}
		if l.localSize < 0 {
			l.localSize = o.localSize
		}
		if l.nodeRank < 0 {
			l.nodeRank = o.nodeRank
		}
		if l.nodes < 0 {
			l.nodes, l.nodesVar = o.nodes, o.nodesVar
		}
		if l.jobID == "" {
			l.jobID = o.jobID
		}
		if l.hint == "" || l.name == "pmix" {
			l.hint = o.hint
		}
	}
	if l.size < 0 {
		return nil, fmt.Errorf("%w: %s=%d is set (%s) but nothing says the world size: set %s", ErrInvalid, l.rankVar, l.rank, l.title, EnvWorldSize)
	}
	if l.size < 1 || l.rank >= l.size {
		return nil, fmt.Errorf("%w: %s=%d is out of range for %s=%d (%s)", ErrInvalid, l.rankVar, l.rank, l.sizeVar, l.size, l.title)
	}
	return &l, nil
}

// launcherFromLookup fills cfg's identity from a launcher's variables when
// KIZUNA_RANK is not set. It reports false, leaving cfg's identity to
// KIZUNA_RANK and friends, when KIZUNA_RANK is set or no launcher is found.
// Kizuna's own KIZUNA_MASTER_ADDR, KIZUNA_JOB_ID, KIZUNA_LOCAL_RANK,
// KIZUNA_LOCAL_WORLD_SIZE, KIZUNA_TRANSPORT and KIZUNA_EXTERNAL_STORE still
// apply on top of a launcher.
func launcherFromLookup(cfg *Config, lookup func(string) (string, bool)) (bool, error) {
	e := env(lookup)
	if e.has(EnvRank) {
		cfg.launch = &launchInfo{name: "kizuna", nodeRank: -1, nodes: -1, masterFrom: EnvMasterAddr}
		return false, nil
	}
	l, err := detectLauncher(e)
	if err != nil || l == nil {
		return false, err
	}
	if l.sizeVar != EnvWorldSize {
		var n int
		if ok, err := e.int(EnvWorldSize, &n); err != nil {
			return false, err
		} else if ok && n != l.size {
			return false, fmt.Errorf("%w: %s=%d disagrees with %s=%d (%s): unset %s", ErrInvalid, EnvWorldSize, n, l.sizeVar, l.size, l.title, EnvWorldSize)
		}
	}
	cfg.Rank, cfg.Size = l.rank, l.size
	cfg.LocalRank, cfg.LocalSize = l.localRank, l.localSize
	if _, err := e.int(EnvLocalRank, &cfg.LocalRank); err != nil {
		return false, err
	}
	if _, err := e.int(EnvLocalWorldSize, &cfg.LocalSize); err != nil {
		return false, err
	}
	cfg.JobID = e.str(EnvJobID)
	if cfg.JobID == "" && l.jobID != "" {
		cfg.JobID = l.name + "-" + l.jobID
	}
	cfg.Transport = e.str(EnvTransport)
	if v := e.str(EnvExternalStore); v != "" && v != "0" && !strings.EqualFold(v, "false") {
		cfg.ExternalStore = true
	}
	info := &launchInfo{name: l.name, also: l.also, nodeRank: l.nodeRank, nodes: l.nodes}
	cfg.launch = info
	switch {
	case e.has(EnvMasterAddr):
		cfg.MasterAddr, info.masterFrom = e.str(EnvMasterAddr), EnvMasterAddr
	case l.masterAddr != "":
		cfg.MasterAddr, info.masterFrom = l.masterAddr, l.masterFrom
	case cfg.Size == 1:
	default:
		why := l.singleHost(cfg.LocalSize)
		if why == "" {
			return false, l.needMasterError(cfg.LocalSize)
		}
		info.singleHost = why
		cfg.MasterAddr = fileAddrPrefix + addrFilePath(e, l, cfg.JobID)
	}
	return true, nil
}

// singleHost says why every rank is on this host ("" when that is not
// known): the launcher counts one node, or as many ranks here as in all.
func (l *launcher) singleHost(localSize int) string {
	switch {
	case l.nodes == 1:
		return l.nodesVar + "=1"
	case localSize == l.size:
		return fmt.Sprintf("%d of %d ranks on this host", localSize, l.size)
	}
	return ""
}

// needMasterError says that ranks on several hosts need KIZUNA_MASTER_ADDR.
func (l *launcher) needMasterError(localSize int) error {
	where := "ranks on an unknown number of hosts"
	switch {
	case l.nodes > 1:
		where = fmt.Sprintf("%d nodes (%s=%d)", l.nodes, l.nodesVar, l.nodes)
	case localSize >= 0:
		where = fmt.Sprintf("%d of %d ranks on this host", localSize, l.size)
	}
	return fmt.Errorf("%w: detected %s with %s and no rendezvous address: set %s=host:port, a free port on rank 0's host, on every rank (%s); with one host only, Kizuna finds it by itself",
		ErrInvalid, l.title, where, EnvMasterAddr, l.hint)
}

// addrFilePath names the address file of a single-host job: in the
// temporary directory, from a hash of the uid, the launcher and its job id,
// so that concurrent jobs and users never share one. With no job id from
// the launcher, the parent process (mpiexec's proxy, slurmstepd) stands in.
func addrFilePath(e env, l *launcher, jobID string) string {
	dir := e.str("TMPDIR")
	if dir == "" {
		dir = os.TempDir()
	}
	uid := os.Getuid()
	key := fmt.Sprintf("%d\x00%s\x00%s\x00%s\x00%s", uid, l.name, l.jobID, l.instance, jobID)
	if l.jobID == "" && l.instance == "" {
		key += fmt.Sprintf("\x00ppid %d", os.Getppid())
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, fmt.Sprintf("kizuna-%d-%s.addr", uid, hex.EncodeToString(sum[:8])))
}

// addrRecord is the content of an address file.
type addrRecord struct {
	Addr  string `json:"addr"`  // the store's host:port
	Job   string `json:"job"`   // Config.JobID
	Nonce string `json:"nonce"` // also in the store under addrFileNonceKey
	PID   int    `json:"pid"`   // rank 0's process, for messages
}

// openRendezvous serves (rank 0, unless ExternalStore) and joins the store
// of cfg.MasterAddr, and returns the store (nil on other ranks), a client
// in cfg.JobID's namespace, and done, to be called once every rank has
// joined.
//
// A MasterAddr of "file://PATH" is a rendezvous among ranks of one host:
// rank 0 serves the store on 127.0.0.1:0, records in the store a random
// nonce, and writes its address, the job id, the nonce and its pid to PATH
// (a temporary file renamed into place, mode 0600); done removes it, when
// it still holds rank 0's nonce. The other ranks read PATH until a record
// for their job names a store that answers with the same nonce, so that a
// file left by a crashed job is never believed; they give up when ctx ends
// with an error naming the file and the job.
func openRendezvous(ctx context.Context, cfg *Config) (store *rendezvous.Server, client *rendezvous.Client, done func(), err error) {
	done = func() {}
	serve := cfg.Rank == 0 && !cfg.ExternalStore
	path, isFile := strings.CutPrefix(cfg.MasterAddr, fileAddrPrefix)
	switch {
	case isFile && serve:
		return publishStore(ctx, cfg, path)
	case isFile:
		client, err = findStore(ctx, cfg, path)
		return nil, client, done, err
	}
	if serve {
		store, err = rendezvous.Listen(cfg.MasterAddr, rendezvous.WithToken(cfg.Token))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("serve rendezvous store at %s: %w", cfg.MasterAddr, err)
		}
		cfg.Logger.Info("serving rendezvous store", "addr", store.Addr())
	}
	client, err = rendezvous.Dial(ctx, cfg.MasterAddr, cfg.JobID, rendezvous.DialWithToken(cfg.Token))
	if err != nil {
		if store != nil {
			store.Close()
		}
		return nil, nil, nil, err
	}
	return store, client, done, nil
}

// publishStore is rank 0's side of a file rendezvous.
func publishStore(ctx context.Context, cfg *Config, path string) (*rendezvous.Server, *rendezvous.Client, func(), error) {
	store, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithToken(cfg.Token))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve rendezvous store on loopback: %w", err)
	}
	client, err := rendezvous.Dial(ctx, store.Addr(), cfg.JobID, rendezvous.DialWithToken(cfg.Token))
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	rec := addrRecord{Addr: store.Addr(), Job: cfg.JobID, Nonce: rand.Text(), PID: os.Getpid()}
	err = client.Set(ctx, addrFileNonceKey, []byte(rec.Nonce))
	if err == nil {
		err = writeAddrFile(path, &rec)
	}
	if err != nil {
		client.Close()
		store.Close()
		return nil, nil, nil, fmt.Errorf("publish rendezvous address in %s: %w", path, err)
	}
	cfg.Logger.Info("serving rendezvous store", "addr", store.Addr(), "file", path)
	done := func() {
		// Another job with the same key may have replaced the file since.
		if cur, why := readAddrFile(path); why == "" && cur.Nonce == rec.Nonce {
			os.Remove(path)
		}
	}
	return store, client, done, nil
}

// writeAddrFile writes rec to path atomically: a reader sees the old file,
// no file, or all of the new one.
func writeAddrFile(path string, rec *addrRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// readAddrFile reads an address file; why says what is wrong with it ("" if
// nothing). It believes only a regular file (not a symbolic link) of this
// user's that no one else may write.
func readAddrFile(path string) (rec addrRecord, why string) {
	lfi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return rec, "the file does not exist yet: is rank 0 running, on this host?"
	case err != nil:
		return rec, err.Error()
	case lfi.Mode()&fs.ModeSymlink != 0:
		return rec, "it is a symbolic link"
	}
	f, err := os.Open(path)
	if err != nil {
		return rec, err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return rec, err.Error()
	case !os.SameFile(lfi, fi):
		return rec, "it was replaced while being read"
	case !fi.Mode().IsRegular():
		return rec, "it is not a regular file"
	case fi.Mode().Perm()&0o022 != 0:
		return rec, fmt.Sprintf("others may write it (mode %v)", fi.Mode().Perm())
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
		return rec, fmt.Sprintf("it belongs to uid %d", uid)
	}
	b, err := io.ReadAll(io.LimitReader(f, addrFileMax+1))
	switch {
	case err != nil:
		return rec, err.Error()
	case len(b) > addrFileMax:
		return rec, fmt.Sprintf("it is larger than %d bytes", addrFileMax)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Addr == "" || rec.Nonce == "" {
		return addrRecord{}, "it is not an address file"
	}
	return rec, ""
}

// fileOwner returns the uid that owns fi, where the system has uids: the
// Uid field of *syscall.Stat_t on every Unix, found by reflection so that
// this file builds on systems without it (Windows, whose temporary
// directory is the user's own).
func fileOwner(fi fs.FileInfo) (int, bool) {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	u := v.Elem().FieldByName("Uid")
	if !u.IsValid() || !u.CanUint() {
		return 0, false
	}
	return int(u.Uint()), true
}

// findStore is the other ranks' side of a file rendezvous.
func findStore(ctx context.Context, cfg *Config, path string) (*rendezvous.Client, error) {
	var (
		why      string // what was wrong at the last look, for the error
		badNonce string // a record whose store did not answer...
		badAt    time.Time
		delay    = 5 * time.Millisecond
	)
	for {
		rec, problem := readAddrFile(path)
		switch {
		case problem != "":
			why = problem
		case rec.Job != cfg.JobID:
			why = fmt.Sprintf("it is for job %q (written by pid %d)", rec.Job, rec.PID)
		case rec.Nonce == badNonce && time.Since(badAt) < storeProbeTimeout:
			// ...is not tried again at once.
		default:
			c, err := probeStore(ctx, rec, cfg.JobID, cfg.Token)
			if err == nil {
				return c, nil
			}
			why = fmt.Sprintf("it was written by pid %d, but the store it names at %s does not answer as that job's (%v): a stale file from an earlier run, or rank 0 is gone", rec.PID, rec.Addr, err)
			badNonce, badAt = rec.Nonce, time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rendezvous: no store address from rank 0 in %s (job %q; all ranks on one host, so rank 0 publishes it there; set %s=host:port to skip this): %w; %s",
				path, cfg.JobID, EnvMasterAddr, ctx.Err(), why)
		case <-time.After(delay):
		}
		delay = min(2*delay, addrPollMax)
	}
}

// probeStore connects to the store rec names and checks that it holds
// rec's nonce in jobID's namespace.
func probeStore(ctx context.Context, rec addrRecord, jobID, token string) (*rendezvous.Client, error) {
	pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	// rendezvous.Dial retries a refused connection until pctx ends; a stale
	// file's port is refused at once.
	var d net.Dialer
	conn, err := d.DialContext(pctx, "tcp", rec.Addr)
	if err != nil {
		return nil, err
	}
	conn.Close()
	c, err := rendezvous.Dial(pctx, rec.Addr, jobID, rendezvous.DialWithToken(token))
	if err != nil {
		return nil, err
	}
	nonce, err := c.Get(pctx, addrFileNonceKey)
	if err == nil && string(nonce) != rec.Nonce {
		err = errors.New("another job's store")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// logLaunch logs the one start-up line that says which launcher started
// this rank and how the rendezvous is found: at info level on rank 0 (shown
// with KIZUNA_LOG=info), at debug level on the others.
func logLaunch(cfg *Config) {
	li := cfg.launch
	if li == nil {
		return
	}
	level := slog.LevelDebug
	if cfg.Rank == 0 {
		level = slog.LevelInfo
	}
	attrs := []any{"launcher", li.name}
	if len(li.also) > 0 {
		attrs = append(attrs, "also", strings.Join(li.also, ","))
	}
	attrs = append(attrs, "rank", cfg.Rank, "size", cfg.Size)
	if cfg.LocalRank >= 0 {
		attrs = append(attrs, "local_rank", cfg.LocalRank)
	}
	if cfg.LocalSize >= 0 {
		attrs = append(attrs, "local_size", cfg.LocalSize)
	}
	if li.nodeRank >= 0 {
		attrs = append(attrs, "node", li.nodeRank)
	}
	if li.nodes >= 0 {
		attrs = append(attrs, "nodes", li.nodes)
	}
	attrs = append(attrs, "job", cfg.JobID, "rendezvous", describeRendezvous(cfg))
	cfg.Logger.Log(context.Background(), level, "launched", attrs...)
}

// describeRendezvous says how this rank finds the store.
func describeRendezvous(cfg *Config) string {
	li := cfg.launch
	var s string
	path, isFile := strings.CutPrefix(cfg.MasterAddr, fileAddrPrefix)
	switch {
	case cfg.Size == 1:
		return "none (1 rank)"
	case isFile && li.singleHost != "":
		s = fmt.Sprintf("one host (%s): rank 0 publishes the store's address in %s", li.singleHost, path)
	case isFile:
		s = "rank 0 publishes the store's address in " + path
	case li.masterFrom != "":
		s = li.masterFrom + "=" + cfg.MasterAddr
	default:
		s = "Config.MasterAddr=" + cfg.MasterAddr
	}
	if cfg.ExternalStore {
		s += ", served by the launcher"
	}
	return s
}
