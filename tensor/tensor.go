package tensor

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
)

// ErrShape reports shapes, dimensions or element types that do not fit
// together.
var ErrShape = errors.New("tensor: bad shape")

// Tensor is a dense tensor: Shape[0] x Shape[1] x ... elements of DType,
// stored contiguously in row-major order (the last dimension varies
// fastest) in Data, len(Data) == NumElems() * DType.Size(). A rank-0
// tensor (empty Shape) holds one element.
//
// A Tensor is a plain value: methods that return a new Tensor copy the
// data unless they say otherwise, and nothing here is safe for concurrent
// writes.
type Tensor struct {
	Shape []int
	DType collective.DType
	Data  []byte
}

// numElems returns the product of shape, or an error for a negative size.
func numElems(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: dimension %d has size %d < 0", ErrShape, i, d)
		}
		n *= d
	}
	return n, nil
}

// NumElems returns the number of elements.
func (t *Tensor) NumElems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// New returns a tensor of shape whose data is data's memory (not a copy):
// writes through either are seen by both. len(data) must equal the product
// of shape.
func New[T collective.Element](shape []int, data []T) (*Tensor, error) {
	n, err := numElems(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: shape %v holds %d elements, data has %d", ErrShape, shape, n, len(data))
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: reduce.DTypeOf[T](), Data: reduce.AsBytes(data)}, nil
}

// Zeros returns a zero tensor of the given type and shape, its data aligned
// for every element type. It panics on an invalid dtype or a negative
// size.
func Zeros(dt collective.DType, shape ...int) *Tensor {
	if !dt.Valid() {
		panic(fmt.Sprintf("tensor: Zeros: unknown dtype %d", dt))
	}
	n, err := numElems(shape)
	if err != nil {
		panic(err)
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, Data: alloc(n * dt.Size())}
}

// alloc returns n zero bytes aligned to 8.
func alloc(n int) []byte {
	w := make([]int64, (n+7)/8)
	return reduce.AsBytes(w)[:n]
}

// AsSlice returns t's data as a []T, sharing its memory (no copy). It panics
// if T is not t's element type or the data is not aligned for T (Data from
// New, Zeros and this package's functions always is).
func AsSlice[T collective.Element](t *Tensor) []T {
	if dt := reduce.DTypeOf[T](); dt != t.DType {
		panic(fmt.Sprintf("tensor: AsSlice: tensor of %s viewed as %s", t.DType, dt))
	}
	var z T
	size := int(unsafe.Sizeof(z))
	if len(t.Data) == 0 {
		return []T{}
	}
	p := unsafe.Pointer(unsafe.SliceData(t.Data))
	if uintptr(p)%unsafe.Alignof(z) != 0 {
		panic("tensor: AsSlice: data not aligned for " + t.DType.String())
	}
	return unsafe.Slice((*T)(p), len(t.Data)/size)
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	d := alloc(len(t.Data))
	copy(d, t.Data)
	return &Tensor{Shape: append([]int(nil), t.Shape...), DType: t.DType, Data: d}
}

// check reports a tensor whose Data does not match its Shape and DType.
func (t *Tensor) check() error {
	if t == nil {
		return fmt.Errorf("%w: nil tensor", ErrShape)
	}
	if !t.DType.Valid() {
		return fmt.Errorf("%w: unknown dtype %d", ErrShape, t.DType)
	}
	n, err := numElems(t.Shape)
	if err != nil {
		return err
	}
	if len(t.Data) != n*t.DType.Size() {
		return fmt.Errorf("%w: shape %v of %s needs %d bytes, data has %d", ErrShape, t.Shape, t.DType, n*t.DType.Size(), len(t.Data))
	}
	return nil
}

// ShardSizes splits n into parts sizes that differ by at most one, the
// larger first: the first n%parts get n/parts+1. It panics if parts < 1
// or n < 0.
func ShardSizes(n, parts int) []int {
	if parts < 1 || n < 0 {
		panic(fmt.Sprintf("tensor: ShardSizes(%d, %d): want n >= 0 and parts >= 1", n, parts))
	}
	s := make([]int, parts)
	for i := range s {
		s[i] = n / parts
		if i < n%parts {
			s[i]++
		}
	}
	return s
}

// ShardOffset returns where part index of ShardSizes(n, parts) starts.
func ShardOffset(n, parts, index int) int {
	return index*(n/parts) + min(index, n%parts)
}

// geometry views t as outer x t.Shape[dim] x inner, inner in bytes.
func (t *Tensor) geometry(dim int) (outer, inner int, err error) {
	if dim < 0 || dim >= len(t.Shape) {
		return 0, 0, fmt.Errorf("%w: dimension %d of a %d-dimensional tensor", ErrShape, dim, len(t.Shape))
	}
	outer, inner = 1, t.DType.Size()
	for _, d := range t.Shape[:dim] {
		outer *= d
	}
	for _, d := range t.Shape[dim+1:] {
		inner *= d
	}
	return outer, inner, nil
}

// Shard returns a copy of part index of t cut into parts along dim, with
// the sizes of ShardSizes(t.Shape[dim], parts).
func (t *Tensor) Shard(dim, parts, index int) (*Tensor, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	outer, inner, err := t.geometry(dim)
	if err != nil {
		return nil, err
	}
	if parts < 1 || index < 0 || index >= parts {
		return nil, fmt.Errorf("%w: shard %d of %d parts", ErrShape, index, parts)
	}
	n := t.Shape[dim]
	size, off := ShardSizes(n, parts)[index], ShardOffset(n, parts, index)
	shape := append([]int(nil), t.Shape...)
	shape[dim] = size
	out := &Tensor{Shape: shape, DType: t.DType, Data: alloc(outer * size * inner)}
	row, srow := size*inner, n*inner
	for o := range outer {
		copy(out.Data[o*row:(o+1)*row], t.Data[o*srow+off*inner:])
	}
	return out, nil
}

// Concat joins parts along dim: every part has the same dtype, the same
// number of dimensions and the same sizes except along dim, where the
// result's size is the sum. It is the inverse of Shard over all indices.
func Concat(dim int, parts ...*Tensor) (*Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: concat of no tensors", ErrShape)
	}
	p0 := parts[0]
	total := 0
	for i, p := range parts {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("part %d: %w", i, err)
		}
		if p.DType != p0.DType || len(p.Shape) != len(p0.Shape) {
			return nil, fmt.Errorf("%w: part %d is %s%v, part 0 %s%v", ErrShape, i, p.DType, p.Shape, p0.DType, p0.Shape)
		}
		if dim < 0 || dim >= len(p.Shape) {
			return nil, fmt.Errorf("%w: dimension %d of a %d-dimensional tensor", ErrShape, dim, len(p.Shape))
		}
		for d := range p.Shape {
			if d != dim && p.Shape[d] != p0.Shape[d] {
				return nil, fmt.Errorf("%w: part %d has shape %v, part 0 %v: only dimension %d may differ", ErrShape, i, p.Shape, p0.Shape, dim)
			}
		}
		total += p.Shape[dim]
	}
	shape := append([]int(nil), p0.Shape...)
	shape[dim] = total
	outer, inner, _ := p0.geometry(dim)
	out := &Tensor{Shape: shape, DType: p0.DType, Data: alloc(outer * total * inner)}
	row := total * inner
	at := 0
	for _, p := range parts {
		prow := p.Shape[dim] * inner
		for o := range outer {
			copy(out.Data[o*row+at:], p.Data[o*prow:(o+1)*prow])
		}
		at += prow
	}
	return out, nil
}
