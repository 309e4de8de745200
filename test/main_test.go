package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// bins holds the binaries built once for every test.
var bins struct {
	kizuna, rankprog string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kizuna-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.kizuna = filepath.Join(dir, "kizuna")
	bins.rankprog = filepath.Join(dir, "rankprog")
	for out, pkg := range map[string]string{bins.kizuna: "../cmd/kizuna", bins.rankprog: "./rankprog"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
			}
		}
	}()
	os.Exit(code)
}

// built maps a package path (relative to test/) to its sync.OnceValues
// build, for buildProg.
var built sync.Map

// buildProg builds the main package pkg (a path relative to test/), once
// per test binary, next to the test's other binaries, and returns the
// program's path.
func buildProg(t *testing.T, pkg string) string {
	t.Helper()
	build, _ := built.LoadOrStore(pkg, sync.OnceValues(func() (string, error) {
		path := filepath.Join(filepath.Dir(bins.kizuna), filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return path, nil
	}))
	path, err := build.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBinariesBuilt(t *testing.T) {
	for _, b := range []string{bins.kizuna, bins.rankprog} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("binary %s: %v", b, err)
		}
	}
}
