package wire

import "github.com/vmihailenco/msgpack/v5"

// EncodeStrings encodes ss as an array of strings, nil as msgpack nil (which
// Decoder.Strings decodes back to nil).
func EncodeStrings(e *msgpack.Encoder, ss []string) error {
	if ss == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := e.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

// EncodeValues encodes vs as an array of bins, nil as msgpack nil (which
// Decoder.Values decodes back to nil); a nil element is encoded as nil.
func EncodeValues(e *msgpack.Encoder, vs [][]byte) error {
	if vs == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(vs)); err != nil {
		return err
	}
	for _, v := range vs {
		if err := e.EncodeBytes(v); err != nil {
			return err
		}
	}
	return nil
}
