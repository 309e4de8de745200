package collective

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// controlMsg is the body of a KindControl frame: a msgpack array
// [type, comm, origin, lost, kind, reason], decoded with every length
// checked before anything is allocated (a peer's frame is not trusted).
type controlMsg struct {
	Type   string // "abort"
	Comm   uint32
	Origin int
	Lost   int
	Kind   string // "mismatch", "abort", "peer", "other"
	Reason string
}

// Bounds of a control message read from the wire.
const (
	maxControl       = 64 << 10 // whole body
	maxControlString = 16 << 10 // any one string
	maxRank          = 1 << 24
)

func encodeControl(m *controlMsg) ([]byte, error) {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	if len(m.Reason) > maxControlString {
		m.Reason = m.Reason[:maxControlString]
	}
	for _, err := range []error{
		e.EncodeArrayLen(6), e.EncodeString(m.Type), e.EncodeUint32(m.Comm),
		e.EncodeInt(int64(m.Origin)), e.EncodeInt(int64(m.Lost)), e.EncodeString(m.Kind), e.EncodeString(m.Reason),
	} {
		if err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func decodeControl(p []byte) (controlMsg, error) {
	var m controlMsg
	if len(p) > maxControl {
		return m, fmt.Errorf("control message of %d bytes, limit %d", len(p), maxControl)
	}
	r := bytes.NewReader(p)
	d := msgpack.NewDecoder(r)
	n, err := d.DecodeArrayLen()
	if err != nil {
		return m, err
	}
	if n != 6 {
		return m, fmt.Errorf("control message of %d fields, want 6", n)
	}
	str := func() (string, error) {
		l, err := d.DecodeBytesLen()
		if err != nil {
			return "", err
		}
		if l < 0 {
			return "", nil
		}
		if l > maxControlString || l > r.Len() {
			return "", fmt.Errorf("string of %d bytes, limit %d, %d bytes left", l, maxControlString, r.Len())
		}
		b := make([]byte, l)
		if err := d.ReadFull(b); err != nil {
			return "", err
		}
		return string(b), nil
	}
	rank := func() (int, error) {
		v, err := d.DecodeInt64()
		if err != nil {
			return 0, err
		}
		if v < -1 || v >= maxRank {
			return 0, fmt.Errorf("rank %d out of range", v)
		}
		return int(v), nil
	}
	if m.Type, err = str(); err != nil {
		return m, err
	}
	if m.Comm, err = d.DecodeUint32(); err != nil {
		return m, err
	}
	if m.Origin, err = rank(); err != nil {
		return m, err
	}
	if m.Lost, err = rank(); err != nil {
		return m, err
	}
	if m.Kind, err = str(); err != nil {
		return m, err
	}
	if m.Reason, err = str(); err != nil {
		return m, err
	}
	if r.Len() != 0 {
		return m, fmt.Errorf("%d trailing bytes", r.Len())
	}
	return m, nil
}
