package launch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func sampleMessages() []message {
	return []message{
		{Type: msgSpawn, Spawn: &spawnMsg{Version: protoVersion, Argv: []string{"/bin/prog", "-x"}, Dir: "/tmp",
			Env: []string{"A=1", "KIZUNA_WORLD_SIZE=4"}, Ranks: []rankSpec{{Rank: 2, Env: []string{"KIZUNA_RANK=2"}}, {Rank: 3, Env: []string{}}},
			StdinRank: -1, Grace: 1500 * time.Millisecond, Master: []string{"10.0.0.1:5000", "[fd00::1]:5000"}}},
		{Type: msgSignal, Signal: 15},
		{Type: msgStdin, Data: []byte("hello\n")},
		{Type: msgStdinEOF},
		{Type: msgReady, Host: "n1", Master: "10.0.0.1:5000", Bind: "10.0.0.2"},
		{Type: msgOutput, Rank: 7, Stream: streamStderr, Data: []byte("a line\n")},
		{Type: msgExit, Rank: 3, Code: 0, Signal: 9},
		{Type: msgStdinAck, Open: true},
		{Type: msgError, Text: "cannot start"},
		{Type: msgDone},
	}
}

func TestProtocolRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := newFrameWriter(&buf)
	tests := sampleMessages()
	for _, tt := range tests {
		if err := fw.write(&tt); err != nil {
			t.Fatalf("write(%+v) = %v", tt, err)
		}
	}
	fr := newFrameReader(&buf)
	for _, tt := range tests {
		got, err := fr.read()
		if err != nil || !reflect.DeepEqual(got, tt) {
			t.Errorf("read() = %+v, %v; want %+v", got, err, tt)
		}
	}
	if _, err := fr.read(); !errors.Is(err, io.EOF) {
		t.Errorf("read() at end = %v; want io.EOF", err)
	}
}

// body encodes a raw msgpack array for malformed-message tests.
func body(t *testing.T, vs ...any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// TestProtocolRejects: malformed or out-of-bounds input is an error, never
// a panic or a large allocation.
func TestProtocolRejects(t *testing.T) {
	huge := []byte{0xdd, 0xff, 0xff, 0xff, 0xff} // array32 of 4G elements
	hugeStr := []byte{0x92, 0x0b, 0xdb, 0xff, 0xff, 0xff, 0xff}
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"zero-length frame", []byte{0, 0, 0, 0}, "frame of 0 bytes"},
		{"oversized frame", binary.BigEndian.AppendUint32(nil, maxFrame+1), "limit"},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 10), 1, 2), "unexpected EOF"},
		{"unknown type", frame(body(t, 99)), "unknown message type"},
		{"wrong field count", frame(body(t, int(msgSignal))), "fields"},
		{"signal out of range", frame(body(t, int(msgSignal), 1000)), "out of range"},
		{"negative rank", frame(body(t, int(msgExit), -1, 0, 0)), "out of range"},
		{"exit code out of range", frame(body(t, int(msgExit), 1, 300, 0)), "out of range"},
		{"stream out of range", frame(body(t, int(msgOutput), 1, 3, "x")), "out of range"},
		{"stdin chunk too big", frame(body(t, int(msgStdin), make([]byte, maxStdinChunk+1))), "limit"},
		{"huge array header", frame(append([]byte{0x92, 0x01, 0x01}, huge...)), "malformed"},
		{"huge string header", frame(hugeStr), "malformed"},
		{"trailing bytes", frame(append(body(t, int(msgDone)), 0xc0)), "trailing"},
	}
	for _, tt := range tests {
		_, err := newFrameReader(bytes.NewReader(tt.input)).read()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: read() = %v; want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestSpawnOtherVersion: a spawn message of another version decodes far
// enough for the agent to say so.
func TestSpawnOtherVersion(t *testing.T) {
	b := body(t, int(msgSpawn), protoVersion+1, "whatever", 1, 2, 3, 4, 5, 6)
	m, err := decodeMessage(b)
	if err != nil || m.Spawn == nil || m.Spawn.Version != protoVersion+1 {
		t.Fatalf("decodeMessage(spawn v%d) = %+v, %v; want the version", protoVersion+1, m, err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	var buf bytes.Buffer
	fw := newFrameWriter(&buf)
	for _, m := range sampleMessages() {
		buf.Reset()
		fw.write(&m)
		f.Add(buf.Bytes()[4:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes again and decodes the same.
		var out bytes.Buffer
		if err := newFrameWriter(&out).write(&m); err != nil {
			if m.Type == msgSpawn && m.Spawn.Version != protoVersion {
				return
			}
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := newFrameReader(&out).read()
		if m.Type == msgSpawn && m.Spawn.Version != protoVersion {
			return
		}
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip %+v = %+v, %v", m, m2, err)
		}
	})
}
