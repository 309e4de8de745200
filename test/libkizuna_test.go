package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the C ABI (cmd/libkizuna): the shared library is built once per
// test binary, then a C program (cmd/libkizuna/testdata/kztest.c) and the
// Python example (examples/python/allreduce.py, ctypes + NumPy) run as the
// ranks of `kizuna run -np 3` jobs. They need gcc (and g++ to check that
// the header compiles as C++), and for Python
// /usr/bin/python3 with NumPy (Debian: python3-numpy): without them they
// skip, or fail with CI=true.

const pythonHint = "install it with: apt-get install -y python3-numpy (Debian/Ubuntu)"

// libkizuna is the shared library, built on first use.
var libkizuna struct {
	once sync.Once
	dir  string // holds libkizuna.so and libkizuna.h
	err  error
}

// buildLib builds libkizuna.so (and its header) next to the test's other
// binaries, once, and returns its directory.
func buildLib(t *testing.T) string {
	t.Helper()
	need(t, "gcc")
	libkizuna.once.Do(func() {
		libkizuna.dir = filepath.Dir(bins.kizuna)
		start := time.Now()
		out, err := exec.Command("go", "build", "-buildmode=c-shared",
			"-o", filepath.Join(libkizuna.dir, "libkizuna.so"), "../cmd/libkizuna").CombinedOutput()
		if err != nil {
			libkizuna.err = fmt.Errorf("go build -buildmode=c-shared ./cmd/libkizuna: %v\n%s", err, out)
		}
		t.Logf("built libkizuna.so in %v", time.Since(start).Round(time.Millisecond))
	})
	if libkizuna.err != nil {
		t.Fatal(libkizuna.err)
	}
	return libkizuna.dir
}

// runJob runs `kizuna run ARGS...` to completion and returns its stdout;
// a non-zero exit or a leftover process fails the test.
func runJob(t *testing.T, args ...string) string {
	t.Helper()
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", args...)
	err, ended := waitExit(cmd, 90*time.Second)
	if !ended {
		t.Fatalf("kizuna run %q did not end in 90s:\n%s\n%s", args, stdout, stderr)
	}
	if err != nil {
		t.Fatalf("kizuna run %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout, stderr)
	}
	checkNoLeftovers(t, mark)
	return stdout.String()
}

// checkRanks checks that each of np ranks printed its "ok" line.
func checkRanks(t *testing.T, out string, np int, format string) {
	t.Helper()
	for r := range np {
		re := regexp.MustCompile(fmt.Sprintf(format, r, np))
		if !re.MatchString(out) {
			t.Errorf("output lacks %q:\n%s", re, out)
		}
	}
}

// TestLibkizunaC: a C program linked against libkizuna.so checks every
// dtype x op all-reduce (in place and out of place) against an exact
// oracle, all-gather, reduce-scatter (both also in place), broadcast,
// reduce, all-to-all, send/recv, barrier, and the error paths (before
// kz_init, bad arguments, per-thread kz_last_error, a mismatch seen by
// every rank, after kz_finalize), on 3 ranks and alone.
func TestLibkizunaC(t *testing.T) {
	dir := buildLib(t)
	prog := filepath.Join(t.TempDir(), "kztest")
	cc := exec.Command("gcc", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1",
		"-o", prog, "../cmd/libkizuna/testdata/kztest.c",
		"-I", "../cmd/libkizuna", "-L", dir, "-lkizuna", "-Wl,-rpath,"+dir, "-lpthread")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cc.Args, " "), err, out)
	}

	out := runJob(t, "-np", "3", "--", prog, t.TempDir())
	checkRanks(t, out, 3, `(?m)^rank %d of %d: ok \d{6,} checks$`)

	// The public header (kizuna.h) and the one Go writes beside the library
	// (libkizuna.h, which includes kizuna.h) both compile as C++, and link
	// (their declarations are extern "C").
	for _, hdr := range []string{"kizuna.h", "libkizuna.h"} {
		t.Run("C++/"+hdr, func(t *testing.T) {
			need(t, "g++")
			src := filepath.Join(t.TempDir(), "hdr.cc")
			code := "#include \"" + hdr + "\"\n#include \"kizuna.h\"\n#include <cstdio>\n" +
				"int main() { int rc = kz_size(); std::printf(\"%d %s\\n\", rc, kz_strerror(rc)); return rc == KZ_ERR_STATE ? 0 : 1; }\n"
			if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := strings.TrimSuffix(src, ".cc")
			cxx := exec.Command("g++", "-Wall", "-Wextra", "-Werror", "-o", bin, src, "-I", "../cmd/libkizuna", "-I", dir, "-L", dir, "-lkizuna", "-Wl,-rpath,"+dir)
			if out, err := cxx.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(cxx.Args, " "), err, out)
			}
			if out, err := exec.Command(bin).CombinedOutput(); err != nil || string(out) != "-2 KZ_ERR_STATE\n" {
				t.Errorf("C++ program: %v, output %q; want \"-2 KZ_ERR_STATE\\n\"", err, out)
			}
		})
	}

	// Outside any launcher, kz_init makes a job of one rank.
	cmd := exec.Command(prog, t.TempDir())
	cmd.Env = launcherEnv()
	b, err := cmd.CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^rank 0 of 1: ok \d+ checks$`).Match(b) {
		t.Errorf("kztest alone: %v\n%s; want \"rank 0 of 1: ok N checks\"", err, b)
	}
}

// TestLibkizunaPython: the Python example all-reduces NumPy arrays in
// place through ctypes on 3 ranks and checks them against NumPy.
func TestLibkizunaPython(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		prereq(t, "%s not found; %s", python, pythonHint)
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		prereq(t, "%s cannot import numpy (%v: %s); %s", python, err, strings.TrimSpace(string(out)), pythonHint)
	}
	dir := buildLib(t)
	script, err := filepath.Abs("../examples/python/allreduce.py")
	if err != nil {
		t.Fatal(err)
	}
	out := runJob(t, "-np", "3", "--", python, script, filepath.Join(dir, "libkizuna.so"))
	checkRanks(t, out, 3, `(?m)^rank %d of %d: ok 8 checks \(allreduce\(float32, sum\), .*, error\)$`)
}
