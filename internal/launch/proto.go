package launch

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// The agent protocol runs over the remote shell's stdin (launcher to agent)
// and stdout (agent to launcher). Each frame is a big-endian uint32 length
// and a msgpack array of that many bytes whose first element is the message
// type. The launcher sends one spawn message first; everything else may come
// in any order:
//
//	launcher -> agent
//	  spawn     [1, version, argv, dir, env, ranks [[rank, env]...], stdinRank, graceMs, master]
//	  signal    [2, signo]                   forward to every rank's process group
//	  stdin     [3, data]                    for the stdin rank; at most one unacknowledged
//	  stdinEOF  [4]                          close the stdin rank's standard input
//	agent -> launcher
//	  ready     [10, host, master, bind]     ranks started; the store address it reached, its bind address
//	  output    [11, rank, stream, line]     one whole line (stream 1 stdout, 2 stderr)
//	  exit      [12, rank, code, signo]      after every line of that rank
//	  stdinAck  [13, open]                   the stdin chunk was written; open=false: the rank's stdin is gone
//	  error     [14, text]                   the agent cannot go on (it exits after)
//	  done      [15]                         every rank has exited and been reported
//
// Both sides bound every length before allocating for it (maxFrame,
// maxList, maxLine) and treat anything malformed as the end of the
// connection.
const protoVersion = 1

// Bounds on the agent protocol.
const (
	// maxLine bounds one output line; a longer line is passed on in pieces
	// of maxLine bytes, each ended with a newline.
	maxLine = 1 << 20
	// maxStdinChunk bounds one stdin message.
	maxStdinChunk = 32 << 10
	// maxList bounds argv, env and rank lists in a spawn message.
	maxList = 1 << 14
	// maxFrame bounds one frame's body: a line or a spawn message, plus
	// room for the encoding.
	maxFrame = 4 << 20
	// maxText bounds host names, addresses and error texts.
	maxText = 64 << 10
)

type msgType uint8

const (
	msgSpawn msgType = iota + 1
	msgSignal
	msgStdin
	msgStdinEOF
)

const (
	msgReady msgType = iota + 10
	msgOutput
	msgExit
	msgStdinAck
	msgError
	msgDone
)

// Output streams in output messages.
const (
	streamStdout = 1
	streamStderr = 2
)

// rankSpec is one rank an agent starts: its rank and the variables that
// differ between ranks.
type rankSpec struct {
	Rank  int
	Env   []string
	cpus  []int // the agent's binding for this rank (bind.go); not sent
	batch bool  // start it under SCHED_BATCH (bind.go); not sent
}

// spawnMsg asks an agent to start ranks.
type spawnMsg struct {
	Version   uint64
	Argv      []string
	Dir       string
	Env       []string // for every rank, after the agent's own environment
	Ranks     []rankSpec
	StdinRank int // the rank that gets stdin messages; -1: none
	Grace     time.Duration
	Master    []string // store addresses to try, best first
}

// msgFields is the number of fields (type included) of each message type.
var msgFields = [...]int{
	msgSpawn: 9, msgSignal: 2, msgStdin: 2, msgStdinEOF: 1,
	msgReady: 4, msgOutput: 4, msgExit: 4, msgStdinAck: 2, msgError: 2, msgDone: 1,
}

// message is one frame of the agent protocol; Type says which fields mean
// something.
type message struct {
	Type   msgType
	Spawn  *spawnMsg // msgSpawn
	Signal int       // msgSignal, msgExit (the signal that ended the rank)
	Data   []byte    // msgStdin, msgOutput
	Rank   int       // msgOutput, msgExit
	Stream int       // msgOutput
	Code   int       // msgExit
	Open   bool      // msgStdinAck
	Host   string    // msgReady
	Master string    // msgReady
	Bind   string    // msgReady
	Text   string    // msgError
}

// frameWriter encodes messages into length-prefixed frames and writes each
// with one Write. It is not safe for concurrent use: its owner holds a lock.
type frameWriter struct {
	w  io.Writer
	fw wire.FrameWriter
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: w, fw: wire.FrameWriter{Keep: 2 * maxLine}}
}

// write encodes m and writes it. It does not retain m's slices.
func (fw *frameWriter) write(m *message) error {
	if err := encodeMessage(fw.fw.Begin(), m); err != nil {
		return err
	}
	b, err := fw.fw.Finish(maxFrame)
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	_, err = fw.w.Write(b)
	return err
}

func encodeMessage(e *msgpack.Encoder, m *message) error {
	var err error
	switch m.Type {
	case msgSpawn:
		s := m.Spawn
		ranks := func() error {
			if err := e.EncodeArrayLen(len(s.Ranks)); err != nil {
				return err
			}
			for _, r := range s.Ranks {
				if err := errors.Join(e.EncodeArrayLen(2), e.EncodeInt(int64(r.Rank)), encodeStrings(e, r.Env)); err != nil {
					return err
				}
			}
			return nil
		}
		err = errors.Join(e.EncodeArrayLen(9), e.EncodeUint(uint64(m.Type)), e.EncodeUint(s.Version),
			encodeStrings(e, s.Argv), e.EncodeString(s.Dir), encodeStrings(e, s.Env), ranks(),
			e.EncodeInt(int64(s.StdinRank)), e.EncodeInt(s.Grace.Milliseconds()), encodeStrings(e, s.Master))
	case msgSignal:
		err = errors.Join(e.EncodeArrayLen(2), e.EncodeUint(uint64(m.Type)), e.EncodeInt(int64(m.Signal)))
	case msgStdin:
		err = errors.Join(e.EncodeArrayLen(2), e.EncodeUint(uint64(m.Type)), e.EncodeBytes(m.Data))
	case msgStdinEOF, msgDone:
		err = errors.Join(e.EncodeArrayLen(1), e.EncodeUint(uint64(m.Type)))
	case msgReady:
		err = errors.Join(e.EncodeArrayLen(4), e.EncodeUint(uint64(m.Type)), e.EncodeString(m.Host),
			e.EncodeString(m.Master), e.EncodeString(m.Bind))
	case msgOutput:
		err = errors.Join(e.EncodeArrayLen(4), e.EncodeUint(uint64(m.Type)), e.EncodeInt(int64(m.Rank)),
			e.EncodeInt(int64(m.Stream)), e.EncodeBytes(m.Data))
	case msgExit:
		err = errors.Join(e.EncodeArrayLen(4), e.EncodeUint(uint64(m.Type)), e.EncodeInt(int64(m.Rank)),
			e.EncodeInt(int64(m.Code)), e.EncodeInt(int64(m.Signal)))
	case msgStdinAck:
		err = errors.Join(e.EncodeArrayLen(2), e.EncodeUint(uint64(m.Type)), e.EncodeBool(m.Open))
	case msgError:
		err = errors.Join(e.EncodeArrayLen(2), e.EncodeUint(uint64(m.Type)), e.EncodeString(m.Text))
	default:
		return fmt.Errorf("launch: encode message of unknown type %d", m.Type)
	}
	if err != nil {
		return fmt.Errorf("launch: encode message type %d: %w", m.Type, err)
	}
	return nil
}

// encodeStrings encodes ss as an array, nil as an empty one: the agent
// protocol has no nil lists.
func encodeStrings(e *msgpack.Encoder, ss []string) error {
	if ss == nil {
		ss = []string{}
	}
	return wire.EncodeStrings(e, ss)
}

// frameReader reads length-prefixed frames and decodes them. It is owned by
// one goroutine.
type frameReader struct {
	r  io.Reader
	fr wire.FrameReader
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, fr: wire.FrameReader{Keep: 2 * maxLine}}
}

// read returns the next message. A clean end of stream between frames is
// io.EOF. Slices in the message are fresh and may be kept.
func (fr *frameReader) read() (message, error) {
	b, err := fr.fr.Read(fr.r, maxFrame)
	if fse := (*wire.FrameSizeError)(nil); errors.As(err, &fse) {
		return message{}, fmt.Errorf("launch: %w", err)
	}
	if err != nil {
		return message{}, err
	}
	return decodeMessage(b)
}

// decodeMessage decodes one frame body with bounded allocation.
func decodeMessage(b []byte) (message, error) {
	d := &decoder{}
	d.Reset(b)
	m, err := d.message()
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return message{}, fmt.Errorf("launch: malformed message: %w", err)
	}
	return m, nil
}

// decoder decodes the agent protocol's messages; wire.Decoder bounds every
// length.
type decoder struct {
	wire.Decoder
}

func (d *decoder) message() (message, error) {
	n, err := d.Msgpack().DecodeArrayLen()
	if err != nil {
		return message{}, err
	}
	if n < 1 {
		return message{}, fmt.Errorf("message of %d fields", n)
	}
	t, err := d.Msgpack().DecodeUint64()
	if err != nil {
		return message{}, err
	}
	m := message{Type: msgType(t)}
	want := 0
	if t < uint64(len(msgFields)) {
		want = msgFields[t]
	}
	if want == 0 {
		return message{}, fmt.Errorf("unknown message type %d", t)
	}
	if n != want {
		return message{}, fmt.Errorf("message type %d with %d fields, want %d", t, n, want)
	}
	switch m.Type {
	case msgSpawn:
		s := &spawnMsg{}
		m.Spawn = s
		if s.Version, err = d.Msgpack().DecodeUint64(); err != nil {
			return m, err
		}
		if s.Version != protoVersion {
			// Decode no further: another version may lay fields out differently.
			d.Reset(nil)
			return m, nil
		}
		if s.Argv, err = d.strings(); err != nil {
			return m, fmt.Errorf("argv: %w", err)
		}
		if s.Dir, err = d.Str(maxText); err != nil {
			return m, fmt.Errorf("dir: %w", err)
		}
		if s.Env, err = d.strings(); err != nil {
			return m, fmt.Errorf("env: %w", err)
		}
		nr, err := d.arrayLen(maxList)
		if err != nil {
			return m, fmt.Errorf("ranks: %w", err)
		}
		s.Ranks = make([]rankSpec, nr)
		for i := range s.Ranks {
			if k, err := d.arrayLen(2); err != nil || k != 2 {
				return m, fmt.Errorf("rank %d: want [rank, env]: %v", i, err)
			}
			if s.Ranks[i].Rank, err = d.Int(0, maxList*maxList); err != nil {
				return m, fmt.Errorf("rank %d: %w", i, err)
			}
			if s.Ranks[i].Env, err = d.strings(); err != nil {
				return m, fmt.Errorf("rank %d env: %w", i, err)
			}
		}
		if s.StdinRank, err = d.Int(-1, maxList*maxList); err != nil {
			return m, fmt.Errorf("stdin rank: %w", err)
		}
		ms, err := d.Int(0, int(time.Hour/time.Millisecond))
		if err != nil {
			return m, fmt.Errorf("grace: %w", err)
		}
		s.Grace = time.Duration(ms) * time.Millisecond
		if s.Master, err = d.strings(); err != nil {
			return m, fmt.Errorf("master: %w", err)
		}
	case msgSignal:
		m.Signal, err = d.Int(1, 64)
	case msgStdin:
		m.Data, err = d.Bytes(maxStdinChunk)
	case msgReady:
		if m.Host, err = d.Str(maxText); err == nil {
			if m.Master, err = d.Str(maxText); err == nil {
				m.Bind, err = d.Str(maxText)
			}
		}
	case msgOutput:
		if m.Rank, err = d.Int(0, maxList*maxList); err == nil {
			if m.Stream, err = d.Int(streamStdout, streamStderr); err == nil {
				m.Data, err = d.Bytes(maxLine + 1)
			}
		}
	case msgExit:
		if m.Rank, err = d.Int(0, maxList*maxList); err == nil {
			if m.Code, err = d.Int(0, 255); err == nil {
				m.Signal, err = d.Int(0, 64)
			}
		}
	case msgStdinAck:
		m.Open, err = d.Msgpack().DecodeBool()
	case msgError:
		m.Text, err = d.Str(maxText)
	}
	return m, err
}

// arrayLen decodes an array header of at most limit elements (nil is empty).
func (d *decoder) arrayLen(limit int) (int, error) {
	n, err := d.ArrayLen(limit)
	return max(n, 0), err
}

// strings decodes a list of at most maxList strings (nil is empty); the
// frame bounds their total size.
func (d *decoder) strings() ([]string, error) {
	ss, err := d.Strings(maxList, maxFrame)
	if err == nil && ss == nil {
		ss = []string{}
	}
	return ss, err
}
