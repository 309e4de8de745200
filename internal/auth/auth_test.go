package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// build returns the proof, keyed with tok, of a transcript for context and
// role followed by field a, integer n and field b.
func build(tok, context, role string, a []byte, n uint64, b string) []byte {
	t := NewTranscript(context, role)
	t.Field(a)
	t.Uint64(n)
	t.FieldString(b)
	return t.Proof(tok)
}

// TestProofEncoding pins the transcript's layout: length-prefixed context,
// role and fields, fixed-size integers, HMAC-SHA256 keyed with the token.
func TestProofEncoding(t *testing.T) {
	var want []byte
	for _, part := range []string{
		"00000003", "637478", // "ctx"
		"00000004", "726f6c65", // "role"
		"00000002", "0102", // field a
		"0000000000000105", // n = 261
		"00000000",         // empty field b
	} {
		b, err := hex.DecodeString(part)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	m := hmac.New(sha256.New, []byte("tok"))
	m.Write(want)
	if got := build("tok", "ctx", "role", []byte{1, 2}, 261, ""); !bytes.Equal(got, m.Sum(nil)) || len(got) != ProofSize {
		t.Fatalf("Proof() = %x; want %x (%d bytes)", got, m.Sum(nil), ProofSize)
	}
}

// TestProofChanges: the proof depends on the token, the context, the role,
// every field and where the fields begin and end.
func TestProofChanges(t *testing.T) {
	a := []byte("nonce")
	base := build("tok", "ctx", "role", a, 7, "job")
	if again := build("tok", "ctx", "role", a, 7, "job"); !bytes.Equal(base, again) {
		t.Fatalf("Proof() = %x, then %x; want the same proof every time", base, again)
	}
	tests := []struct {
		name string
		p    []byte
	}{
		{"token", build("tok2", "ctx", "role", a, 7, "job")},
		{"no token", build("", "ctx", "role", a, 7, "job")},
		{"context", build("tok", "ctx2", "role", a, 7, "job")},
		{"role", build("tok", "ctx", "other", a, 7, "job")},
		{"field", build("tok", "ctx", "role", []byte("nonce2"), 7, "job")},
		{"nil field", build("tok", "ctx", "role", nil, 7, "job")},
		{"integer", build("tok", "ctx", "role", a, 8, "job")},
		{"string field", build("tok", "ctx", "role", a, 7, "job2")},
		{"role and context boundary", build("tok", "ctxr", "ole", a, 7, "job")},
		{"role and field boundary", build("tok", "ctx", "rolen", []byte("once"), 7, "job")},
	}
	for _, tt := range tests {
		if bytes.Equal(tt.p, base) {
			t.Errorf("Proof(other %s) = Proof(base) = %x; want them to differ", tt.name, tt.p)
		}
	}
}

func TestEqual(t *testing.T) {
	p := build("tok", "ctx", "role", nil, 0, "")
	flipped := bytes.Clone(p)
	flipped[ProofSize-1] ^= 1
	tests := []struct {
		name      string
		got, want []byte
		equal     bool
	}{
		{"same", bytes.Clone(p), p, true},
		{"last bit", flipped, p, false},
		{"other proof", build("tok2", "ctx", "role", nil, 0, ""), p, false},
		{"prefix", p[:ProofSize-1], p, false},
		{"longer", append(bytes.Clone(p), 0), p, false},
		{"empty", nil, p, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.got, tt.want); got != tt.equal {
			t.Errorf("%s: Equal(%x, %x) = %v; want %v", tt.name, tt.got, tt.want, got, tt.equal)
		}
	}
}

// TestEqualIsConstantTime: Equal must compare with hmac.Equal, not with a
// comparison that returns at the first differing byte; timing cannot be
// asserted, so the source is.
func TestEqualIsConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "auth.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "Equal" || fd.Recv != nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "hmac" && sel.Sel.Name == "Equal" {
					found = true
				}
			}
			return true
		})
	}
	if !found {
		t.Fatal("Equal does not call hmac.Equal; want a constant-time comparison")
	}
}

func TestNewNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if len(a) != NonceSize || len(b) != NonceSize || bytes.Equal(a, b) {
		t.Fatalf("NewNonce(), NewNonce() = %x, %x; want two different %d-byte nonces", a, b, NonceSize)
	}
}
