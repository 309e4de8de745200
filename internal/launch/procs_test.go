package launch

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	mid := strings.Repeat("y", 100<<10) // longer than the reader's buffer, shorter than maxLine
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "a\nbb\n", []string{"a\n", "bb\n"}},
		{"no final newline", "a\nb", []string{"a\n", "b\n"}},
		{"empty", "", nil},
		{"blank lines", "\n\n", []string{"\n", "\n"}},
		{"line longer than the buffer", mid + "\nz\n", []string{mid + "\n", "z\n"}},
		{"line longer than maxLine", long + "\n", []string{long[:maxLine] + "\n", long[maxLine:] + "\n"}},
	}
	for _, tt := range tests {
		var got []string
		readLines(strings.NewReader(tt.in), func(l []byte) { got = append(got, string(l)) })
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: readLines gave %d lines; want %d", tt.name, len(got), len(tt.want))
		}
	}
}

func TestTail(t *testing.T) {
	var tl tail
	for i := range 15 {
		tl.add([]byte(strings.Repeat("l", i) + "\n"))
	}
	tl.add([]byte(strings.Repeat("z", 5000)))
	lines := strings.Split(strings.TrimSuffix(tl.String(), "\n"), "\n")
	if len(lines) != tailLines {
		t.Fatalf("tail kept %d lines; want %d", len(lines), tailLines)
	}
	if lines[0] != "  "+strings.Repeat("l", 6) || len(lines[tailLines-1]) != 2+maxTailLine {
		t.Errorf("tail = %q ... %d bytes; want the last %d lines, each cut to %d bytes", lines[0], len(lines[tailLines-1]), tailLines, maxTailLine)
	}
}
