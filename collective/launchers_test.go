package collective

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/rendezvous"
)

func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// with returns a copy of base with the extra variables set.
func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// What each launcher puts in a rank's environment (rank 1 of 4 on one
// node), as observed (Open MPI 4.1.4, Slurm 22.05) or documented.
var (
	envOpenMPI = map[string]string{
		"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4",
		"OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "4", "OMPI_COMM_WORLD_NODE_RANK": "1",
		"OMPI_MCA_ess_base_jobid": "1162215425", "OMPI_MCA_orte_num_nodes": "1",
		"OMPI_MCA_orte_hnp_uri": "1162215424.0;tcp://192.0.2.2:45913",
		"PMIX_RANK":             "1", "PMIX_NAMESPACE": "1162215425",
	}
	envHydra = map[string]string{
		"PMI_RANK": "1", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "4", "PMI_FD": "6",
	}
	envSlurm = map[string]string{
		"SLURM_PROCID": "1", "SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_LOCALID": "1",
		"SLURM_NODEID": "0", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_STEPID": "0",
		"SLURM_STEP_NUM_NODES": "1", "SLURM_NNODES": "1", "SLURM_JOB_NUM_NODES": "1",
		"SLURM_STEP_TASKS_PER_NODE": "4", "SLURM_TASKS_PER_NODE": "4",
	}
	// An sbatch script: SLURM_PROCID=0 but no step; not a task of a step.
	envSbatch = map[string]string{
		"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
		"SLURM_JOB_ID": "78", "SLURM_NNODES": "1", "SLURM_TASKS_PER_NODE": "4",
	}
	envTorchrun = map[string]string{
		"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
		"GROUP_RANK": "0", "GROUP_WORLD_SIZE": "1", "MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "29500",
		"TORCHELASTIC_RUN_ID": "run9",
	}
	envKube = map[string]string{"JOB_COMPLETION_INDEX": "1", EnvWorldSize: "4", EnvMasterAddr: "job-0.job:29500"}
)

// TestLauncherDetection: each launcher's variables give rank, size, local
// rank and size, job id and rendezvous, in the documented precedence.
func TestLauncherDetection(t *testing.T) {
	tmp := t.TempDir()
	type want struct {
		launcher             string
		rank, size           int
		localRank, localSize int
		nodes                int
		job, master          string // master "file" = a file rendezvous under tmp
	}
	tests := []struct {
		name string
		env  map[string]string
		want want
	}{
		{"kizuna", map[string]string{EnvRank: "2", EnvWorldSize: "3", EnvMasterAddr: "h:1"},
			want{"kizuna", 2, 3, -1, -1, -1, "", "h:1"}},
		{"openmpi one node", envOpenMPI,
			want{"openmpi", 1, 4, 1, 4, 1, "openmpi-1162215425", "file"}},
		{"hydra one node", envHydra,
			want{"pmi", 1, 4, 1, 4, -1, "", "file"}},
		{"pmix sized by KIZUNA_WORLD_SIZE", map[string]string{"PMIX_RANK": "2", "PMIX_NAMESPACE": "prte@1", EnvWorldSize: "3", EnvMasterAddr: "h:2"},
			want{"pmix", 2, 3, -1, -1, -1, "pmix-prte@1", "h:2"}},
		{"slurm one node", envSlurm,
			want{"slurm", 1, 4, 1, 4, 1, "slurm-77.0", "file"}},
		{"slurm step smaller than the allocation", with(envSlurm, "SLURM_NTASKS", "8", "SLURM_STEP_NUM_TASKS", "2", "SLURM_STEP_TASKS_PER_NODE", "2", "SLURM_TASKS_PER_NODE", "8"),
			want{"slurm", 1, 2, 1, 2, 1, "slurm-77.0", "file"}},
		{"slurm second node", with(envSlurm, "SLURM_PROCID", "5", "SLURM_STEP_NUM_TASKS", "7", "SLURM_NODEID", "1", "SLURM_STEP_NUM_NODES", "2", "SLURM_STEP_TASKS_PER_NODE", "4,3", EnvMasterAddr, "n1:5"),
			want{"slurm", 5, 7, 1, 3, 2, "slurm-77.0", "n1:5"}},
		{"slurm one task", with(envSlurm, "SLURM_PROCID", "0", "SLURM_STEP_NUM_TASKS", "1", "SLURM_NTASKS", "1", "SLURM_LOCALID", "0", "SLURM_STEP_TASKS_PER_NODE", "1"),
			want{"slurm", 0, 1, 0, 1, 1, "slurm-77.0", ""}},
		{"slurm pmix plugin", with(envSlurm, "PMIX_RANK", "1", "PMIX_NAMESPACE", "slurm.pmix.77.0"),
			want{"pmix", 1, 4, 1, 4, 1, "pmix-slurm.pmix.77.0", "file"}},
		{"slurm pmi2 plugin", with(envSlurm, "PMI_RANK", "1", "PMI_SIZE", "4", "PMI_JOBID", "77.0"),
			want{"pmi", 1, 4, 1, 4, 1, "pmi-77.0", "file"}},
		{"torchrun", envTorchrun,
			want{"torchrun", 1, 4, 1, 4, 1, "torchrun-run9", "10.0.0.7:29501"}},
		{"torchrun ipv6 master", with(envTorchrun, "MASTER_ADDR", "fd00::1"),
			want{"torchrun", 1, 4, 1, 4, 1, "torchrun-run9", "[fd00::1]:29501"}},
		{"torch-style without master, one host", map[string]string{"RANK": "3", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "4"},
			want{"torch", 3, 4, -1, 4, -1, "", "file"}},
		{"kubernetes", envKube,
			want{"kubernetes", 1, 4, -1, -1, -1, "", "job-0.job:29500"}},
		{"kubernetes one pod", map[string]string{"JOB_COMPLETION_INDEX": "0", EnvWorldSize: "1"},
			want{"kubernetes", 0, 1, -1, -1, -1, "", ""}},

		// Precedence.
		{"kizuna over openmpi", with(envOpenMPI, EnvRank, "0", EnvWorldSize, "2", EnvMasterAddr, "h:1"),
			want{"kizuna", 0, 2, -1, -1, -1, "", "h:1"}},
		{"torchrun over the srun that started it", with(envSlurm, "SLURM_PROCID", "0", "SLURM_NTASKS", "2", "SLURM_STEP_NUM_TASKS", "2",
			"RANK", "5", "WORLD_SIZE", "8", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "4", "MASTER_ADDR", "n0", "MASTER_PORT", "29500", "TORCHELASTIC_RUN_ID", "r"),
			want{"torchrun", 5, 8, 1, 4, -1, "torchrun-r", "n0:29501"}},
		{"openmpi over slurm (mpirun in an allocation)", with(envSbatch, "OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_SIZE", "4", "OMPI_MCA_ess_base_jobid", "9"),
			want{"openmpi", 3, 4, -1, 4, -1, "openmpi-9", "file"}},
		{"openmpi over pmix", envOpenMPI,
			want{"openmpi", 1, 4, 1, 4, 1, "openmpi-1162215425", "file"}},
		{"pmi over pmix", with(envHydra, "PMIX_RANK", "1", EnvWorldSize, "4"),
			want{"pmi", 1, 4, 1, 4, -1, "", "file"}},
		{"slurm over torch-style variables", with(envSlurm, "RANK", "0", "WORLD_SIZE", "1"),
			want{"slurm", 1, 4, 1, 4, 1, "slurm-77.0", "file"}},
		{"torch-style over kubernetes", with(envKube, "RANK", "3", "WORLD_SIZE", "4", "MASTER_ADDR", "m", "MASTER_PORT", "1"),
			want{"torch", 3, 4, -1, -1, -1, "", "job-0.job:29500"}},
		{"KIZUNA_JOB_ID and KIZUNA_LOCAL_* override", with(envOpenMPI, EnvJobID, "mine", EnvLocalRank, "0", EnvLocalWorldSize, "1", EnvMasterAddr, "h:3"),
			want{"openmpi", 1, 4, 0, 1, 1, "mine", "h:3"}},
		{"KIZUNA_MASTER_ADDR over torchrun's", with(envTorchrun, EnvMasterAddr, "k:9"),
			want{"torchrun", 1, 4, 1, 4, 1, "torchrun-run9", "k:9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFromLookup(lookupMap(with(tt.env, "TMPDIR", tmp)))
			if err != nil {
				t.Fatalf("ConfigFromEnv() error = %v", err)
			}
			nodes := -1
			if cfg.launch != nil {
				nodes = cfg.launch.nodes
			}
			var name string
			if cfg.launch != nil {
				name = cfg.launch.name
			}
			got := want{name, cfg.Rank, cfg.Size, cfg.LocalRank, cfg.LocalSize, nodes, cfg.JobID, cfg.MasterAddr}
			if path, ok := strings.CutPrefix(cfg.MasterAddr, fileAddrPrefix); ok && filepath.Dir(path) == tmp {
				got.master = "file"
			}
			if got != tt.want {
				t.Errorf("ConfigFromEnv() = %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestLauncherNotDetected: variables that look like a launcher's but do not
// make this process a rank of a job.
func TestLauncherNotDetected(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"nothing", map[string]string{}},
		{"sbatch script", envSbatch},
		{"indexed Job without KIZUNA_WORLD_SIZE", map[string]string{"JOB_COMPLETION_INDEX": "3"}},
		{"RANK alone", map[string]string{"RANK": "1"}},
		{"empty values", map[string]string{"OMPI_COMM_WORLD_RANK": "", "PMI_RANK": " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if launcherPresent(lookupMap(tt.env)) {
				t.Errorf("launcherPresent(%v) = true; want false", tt.env)
			}
			_, err := configFromLookup(lookupMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), EnvRank+" is not set") {
				t.Errorf("ConfigFromEnv() error = %v; want %s is not set", err, EnvRank)
			}
		})
	}
}

// TestLauncherBadValues: a malformed or inconsistent value is an error
// that names the variable (and what to do).
func TestLauncherBadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"openmpi rank not a number", with(envOpenMPI, "OMPI_COMM_WORLD_RANK", "one"), []string{"OMPI_COMM_WORLD_RANK", `"one"`}},
		{"openmpi negative size", with(envOpenMPI, "OMPI_COMM_WORLD_SIZE", "-4"), []string{"OMPI_COMM_WORLD_SIZE"}},
		{"openmpi no size", map[string]string{"OMPI_COMM_WORLD_RANK": "0"}, []string{"OMPI_COMM_WORLD_SIZE", "is not"}},
		{"openmpi rank out of range", with(envOpenMPI, "OMPI_COMM_WORLD_RANK", "4"), []string{"OMPI_COMM_WORLD_RANK=4", "OMPI_COMM_WORLD_SIZE=4"}},
		{"openmpi bad local size", with(envOpenMPI, "OMPI_COMM_WORLD_LOCAL_SIZE", "x"), []string{"OMPI_COMM_WORLD_LOCAL_SIZE"}},
		{"pmi bad local rank", with(envHydra, "MPI_LOCALRANKID", "?"), []string{"MPI_LOCALRANKID"}},
		{"pmix without a size", map[string]string{"PMIX_RANK": "0"}, []string{"PMIX_RANK", EnvWorldSize}},
		{"slurm bad tasks per node", with(envSlurm, "SLURM_STEP_TASKS_PER_NODE", "4(y2)"), []string{"SLURM_STEP_TASKS_PER_NODE"}},
		{"slurm no size", map[string]string{"SLURM_PROCID": "0", "SLURM_STEP_ID": "0"}, []string{"SLURM_NTASKS"}},
		{"slurm bad node id", with(envSlurm, "SLURM_NODEID", "n1"), []string{"SLURM_NODEID"}},
		{"torchrun port too high", with(envTorchrun, "MASTER_PORT", "65535"), []string{"MASTER_PORT", "MASTER_PORT+1"}},
		{"torchrun port not a number", with(envTorchrun, "MASTER_PORT", "http"), []string{"MASTER_PORT"}},
		{"master addr without port", with(envTorchrun, "MASTER_PORT", ""), []string{"MASTER_PORT is not"}},
		{"kubernetes bad index", with(envKube, "JOB_COMPLETION_INDEX", "-1"), []string{"JOB_COMPLETION_INDEX"}},
		{"kubernetes index out of range", with(envKube, "JOB_COMPLETION_INDEX", "4"), []string{"JOB_COMPLETION_INDEX=4", EnvWorldSize + "=4"}},
		{"kubernetes bad size", with(envKube, EnvWorldSize, "four"), []string{EnvWorldSize}},
		{"KIZUNA_WORLD_SIZE disagrees", with(envOpenMPI, EnvWorldSize, "8"), []string{EnvWorldSize + "=8", "OMPI_COMM_WORLD_SIZE=4"}},
		{"bad KIZUNA_LOCAL_RANK", with(envSlurm, EnvLocalRank, "me"), []string{EnvLocalRank}},
		{"slurm on 2 nodes, no address", with(envSlurm, "SLURM_STEP_NUM_NODES", "2", "SLURM_STEP_TASKS_PER_NODE", "2(x2)"),
			[]string{"Slurm", "2 nodes", "SLURM_STEP_NUM_NODES=2", EnvMasterAddr + "=host:port", "srun --export=ALL,KIZUNA_MASTER_ADDR="}},
		{"openmpi on 2 hosts, no address", with(envOpenMPI, "OMPI_COMM_WORLD_LOCAL_SIZE", "2", "OMPI_MCA_orte_num_nodes", "2"),
			[]string{"Open MPI", "2 nodes", EnvMasterAddr, "mpirun -x KIZUNA_MASTER_ADDR"}},
		{"hydra on 2 hosts, no address", with(envHydra, "MPI_LOCALNRANKS", "2"),
			[]string{"PMI", "2 of 4 ranks on this host", EnvMasterAddr, "mpiexec -genv"}},
		{"kubernetes, no address", with(envKube, EnvMasterAddr, ""), []string{"Kubernetes", EnvMasterAddr, "<job>-0"}},
		{"torch-style, hosts unknown, no address", map[string]string{"RANK": "0", "WORLD_SIZE": "2"}, []string{"unknown number of hosts", "MASTER_ADDR", EnvMasterAddr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !launcherPresent(lookupMap(tt.env)) {
				t.Errorf("launcherPresent() = false; want true, so that the error is reported")
			}
			_, err := configFromLookup(lookupMap(tt.env))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ConfigFromEnv() error = %v; want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ConfigFromEnv() error = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestTasksOnNode(t *testing.T) {
	tests := []struct {
		spec    string
		node    int
		want    int
		wantErr bool
	}{
		{"4", 0, 4, false},
		{"2(x3),1", 0, 2, false},
		{"2(x3),1", 2, 2, false},
		{"2(x3),1", 3, 1, false},
		{"3,2", 1, 2, false},
		{"2(x1000000000)", 999999999, 2, false},
		{"4", 1, 0, true},
		{"2(x0)", 0, 0, true},
		{"2(3)", 0, 0, true},
		{"2(x3", 0, 0, true},
		{"", 0, 0, true},
		{"-1", 0, 0, true},
	}
	for _, tt := range tests {
		got, err := tasksOnNode(tt.spec, tt.node)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("tasksOnNode(%q, %d) = %d, %v; want %d, error %v", tt.spec, tt.node, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestAddrFilePath: every rank of a job names the same file; another job,
// launcher or job id names another.
func TestAddrFilePath(t *testing.T) {
	cfgPath := func(m map[string]string) string {
		t.Helper()
		cfg, err := configFromLookup(lookupMap(with(m, "TMPDIR", "/x")))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := strings.CutPrefix(cfg.MasterAddr, fileAddrPrefix)
		if !ok {
			t.Fatalf("MasterAddr = %q; want a file rendezvous", cfg.MasterAddr)
		}
		return p
	}
	p := cfgPath(envOpenMPI)
	if dir := filepath.Dir(p); dir != "/x" {
		t.Errorf("address file %s is not in TMPDIR /x", p)
	}
	if !strings.Contains(filepath.Base(p), fmt.Sprint(os.Getuid())) {
		t.Errorf("address file %s does not name the uid %d", p, os.Getuid())
	}
	if q := cfgPath(with(envOpenMPI, "OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_LOCAL_RANK", "3")); q != p {
		t.Errorf("ranks 1 and 3 of one job name %s and %s; want the same file", p, q)
	}
	others := []map[string]string{
		with(envOpenMPI, "OMPI_MCA_ess_base_jobid", "1162215426", "PMIX_NAMESPACE", "1162215426"),
		with(envOpenMPI, "OMPI_MCA_orte_hnp_uri", "1162215424.0;tcp://192.0.2.2:45914"),
		with(envOpenMPI, EnvJobID, "other"),
		envSlurm,
		with(envSlurm, "SLURM_STEP_ID", "1", "SLURM_STEPID", "1"),
	}
	seen := map[string]int{p: -1}
	for i, m := range others {
		q := cfgPath(m)
		if j, dup := seen[q]; dup {
			t.Errorf("jobs %d and %d name the same address file %s", i, j, q)
		}
		seen[q] = i
	}
}

// fileJob starts ranks of a file rendezvous at path as goroutines calling
// New over TCP, and returns each rank's error after an all-reduce.
func fileJob(ctx context.Context, path, job, token string, ranks []int, size int, timeout time.Duration, before func(rank int)) []error {
	errs := make([]error, len(ranks))
	var wg sync.WaitGroup
	for i, r := range ranks {
		wg.Go(func() {
			if before != nil {
				before(r)
			}
			c, err := New(ctx, Config{Rank: r, Size: size, MasterAddr: fileAddrPrefix + path, JobID: job, Token: token, Timeout: timeout,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			v := []int64{int64(r + 1)}
			if err := AllReduce(ctx, c, v, v, Sum); err != nil {
				errs[i] = err
				return
			}
			if want := int64(size * (size + 1) / 2); v[0] != want {
				errs[i] = fmt.Errorf("rank %d: AllReduce sum = %d; want %d", r, v[0], want)
			}
		})
	}
	wg.Wait()
	return errs
}

// TestFileRendezvous: ranks of one host find each other through the file,
// whoever starts first, past a stale file from a crashed job and a file of
// another job; rank 0 removes the file once everyone has joined.
func TestFileRendezvous(t *testing.T) {
	// A crashed job's store: its address no longer answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	// A store that still answers but is not this run's (an earlier rank 0
	// that hangs on): without the nonce check the ranks would join it.
	other, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	tests := []struct {
		name  string
		stale *addrRecord
		token string
	}{
		{"no file", nil, ""},
		{"stale file of this job", &addrRecord{Addr: dead, Job: "job-a", Nonce: "old", PID: 1}, ""},
		{"file of another job", &addrRecord{Addr: dead, Job: "job-b", Nonce: "b", PID: 1}, ""},
		{"live store of an earlier run", &addrRecord{Addr: other.Addr(), Job: "job-a", Nonce: "old", PID: 1}, ""},
		{"with a token", nil, "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kizuna.addr")
			if tt.stale != nil {
				if err := writeAddrFile(path, tt.stale); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			// Ranks 1-3 start first and meet the stale file; rank 0 a
			// moment later.
			errs := fileJob(ctx, path, "job-a", tt.token, []int{0, 1, 2, 3}, 4, time.Minute, func(rank int) {
				if rank == 0 {
					time.Sleep(200 * time.Millisecond)
				}
			})
			for r, err := range errs {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("address file after the job: Lstat = %v; want it removed", err)
			}
		})
	}
}

// TestFileRendezvousTimeout: with no rank 0, the others give up at the
// start-up timeout with an error naming the file, the job and why.
func TestFileRendezvousTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kizuna.addr")
	errs := fileJob(t.Context(), path, "job-t", "", []int{1}, 2, 300*time.Millisecond, nil)
	err := errs[0]
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("New without rank 0 = %v; want a deadline error", err)
	}
	for _, w := range []string{path, `"job-t"`, "does not exist", EnvMasterAddr} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New without rank 0 = %q; want it to contain %q", err, w)
		}
	}
}

// TestAddrFileRejected: a file that someone else could have written is not
// believed.
func TestAddrFileRejected(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := writeAddrFile(good, &addrRecord{Addr: "127.0.0.1:1", Job: "j", Nonce: "n"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("writeAddrFile: mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if rec, why := readAddrFile(good); why != "" || rec.Addr != "127.0.0.1:1" || rec.Nonce != "n" {
		t.Fatalf("readAddrFile(good) = %+v, %q; want the record", rec, why)
	}
	writable := filepath.Join(dir, "writable")
	os.WriteFile(writable, []byte(`{"addr":"127.0.0.1:1","job":"j","nonce":"n"}`), 0o600)
	os.Chmod(writable, 0o666)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not json"), 0o600)
	huge := filepath.Join(dir, "huge")
	os.WriteFile(huge, bytes.Repeat([]byte(" "), addrFileMax+1), 0o600)
	tests := []struct {
		path, why string
	}{
		{writable, "others may write"},
		{link, "symbolic link"},
		{garbage, "not an address file"},
		{huge, "larger than"},
		{filepath.Join(dir, "absent"), "does not exist"},
	}
	if os.Getuid() == 0 { // only root can give a file away
		foreign := filepath.Join(dir, "foreign")
		if err := writeAddrFile(foreign, &addrRecord{Addr: "127.0.0.1:1", Job: "j", Nonce: "n"}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(foreign, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct{ path, why string }{foreign, "belongs to uid 4242"})
	}
	for _, tt := range tests {
		if _, why := readAddrFile(tt.path); !strings.Contains(why, tt.why) {
			t.Errorf("readAddrFile(%s) = %q; want %q", filepath.Base(tt.path), why, tt.why)
		}
	}
}

// TestLaunchLogLine: rank 0 logs one info line naming the launcher and the
// rendezvous; other ranks log it at debug level only.
func TestLaunchLogLine(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		level  slog.Level
		want   []string
		absent bool
	}{
		{"openmpi rank 0", with(envOpenMPI, "OMPI_COMM_WORLD_RANK", "0", "PMIX_RANK", "0", "TMPDIR", "/x"), slog.LevelInfo,
			[]string{"level=INFO", "launcher=openmpi", "also=pmix", "rank=0", "size=4", "local_size=4", "job=openmpi-1162215425",
				"one host (OMPI_MCA_orte_num_nodes=1): rank 0 publishes the store's address in /x/kizuna-"}, false},
		{"slurm rank 1 at info", with(envSlurm, "TMPDIR", "/x"), slog.LevelInfo, nil, true},
		{"slurm rank 1 at debug", with(envSlurm, "TMPDIR", "/x"), slog.LevelDebug,
			[]string{"level=DEBUG", "launcher=slurm", "rank=1", "node=0", "nodes=1", "job=slurm-77.0"}, false},
		{"torchrun", with(envTorchrun, "RANK", "0"), slog.LevelInfo,
			[]string{"launcher=torchrun", `rendezvous="MASTER_ADDR:MASTER_PORT+1=10.0.0.7:29501"`}, false},
		{"one rank", with(envSlurm, "SLURM_PROCID", "0", "SLURM_STEP_NUM_TASKS", "1"), slog.LevelInfo,
			[]string{"launcher=slurm", "size=1", `rendezvous="none (1 rank)"`}, false},
		{"kizuna", map[string]string{EnvRank: "0", EnvWorldSize: "2", EnvMasterAddr: "h:1", EnvExternalStore: "1"}, slog.LevelInfo,
			[]string{"launcher=kizuna", `rendezvous="KIZUNA_MASTER_ADDR=h:1, served by the launcher"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFromLookup(lookupMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			logLaunch(&cfg)
			out := buf.String()
			if tt.absent {
				if out != "" {
					t.Errorf("logLaunch logged %q; want nothing at level %v", out, tt.level)
				}
				return
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("logLaunch logged %q; want one line", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("logLaunch logged %q; want it to contain %q", out, w)
				}
			}
		})
	}
}
