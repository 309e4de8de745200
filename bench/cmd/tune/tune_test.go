package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKizuna prints kizuna bench -json rows whose busbw is $KNOB GB/s on
// the first run of each value and 100 on later ones for 64 bytes, and
// $KNOB at 128 bytes; in-place rows (999) must be ignored.
const fakeKizuna = `#!/bin/sh
f="$STATE/$KNOB"; n=$(cat "$f" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$f"
bw=$KNOB; [ $n -gt 1 ] && [ $KNOB = 4 ] && bw=0.5
echo "{\"op\":\"allreduce\",\"bytes\":64,\"inplace\":false,\"busbw_gbps\":$bw}"
echo "{\"op\":\"allreduce\",\"bytes\":64,\"inplace\":true,\"busbw_gbps\":999}"
echo "{\"op\":\"allreduce\",\"bytes\":128,\"inplace\":false,\"busbw_gbps\":$KNOB}"
`

func TestRunTable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE", dir)
	k := filepath.Join(dir, "kizuna")
	if err := os.WriteFile(k, []byte(fakeKizuna), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := []string{"-kizuna", k, "-var", "KNOB=1,2,4", "-np", "2", "-b", "64", "-e", "128", "-runs", "3"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run(%q) = %v\n%s", args, err, errb.String())
	}
	// value 4 gives 4, 0.5, 0.5 at 64 B (median 0.5): 2 is best there.
	for _, want := range []string{
		"allreduce, np=2, KNOB (median busbw, GB/s)",
		"| size | 1 | 2 | 4 |",
		"| 64B | 1.000 | **2.000** | 0.500 |",
		"| 128B | 1.000 | 2.000 | **4.000** |",
		"| geomean | 1.000 | 2.000 | 1.414 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-var", "NOVALUES"}, "-var"},
		{[]string{"-var", "X=1", "-np", "1"}, "-np"},
		{[]string{"-var", "X=1", "-runs", "0"}, "-runs"},
	}
	for _, tt := range tests {
		err := run(tt.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
