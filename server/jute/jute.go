// Package jute implements the binary encoding that Apache ZooKeeper uses for
// every record it puts on the wire or on disk (Hadoop "jute" records written
// with BinaryOutputArchive): big-endian integers, length-prefixed strings,
// buffers and vectors, and no tags or padding.
//
// The decoder uses a sticky error so that record decoders read like the jute
// schema they mirror: a sequence of field reads followed by one error check.
// Every length read from the input is bounded, so a hostile or corrupt frame
// can never make the decoder allocate more than the input it was given.
package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// DefaultMaxBuffer is ZooKeeper's default jute.maxbuffer (0xfffff bytes): the
// largest frame a server accepts and the largest string or buffer it decodes.
const DefaultMaxBuffer = 0xfffff

// ErrShort is returned (wrapped) when the input ends inside a field.
var ErrShort = errors.New("jute: input ends inside a field")

// ErrLength is returned (wrapped) for a length that is negative (other than
// the -1 that encodes null) or larger than the decoder's limit.
var ErrLength = errors.New("jute: unreasonable length")

// Encoder appends jute-encoded fields to a byte slice.
// The zero value is ready to use.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an encoder that appends to buf (which may be nil).
// Passing a recycled buffer with spare capacity avoids allocations.
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf} }

// Bytes returns the encoded bytes.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.buf) }

// Reset empties the encoder while keeping its storage.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

// Byte writes one byte.
func (e *Encoder) Byte(v byte) { e.buf = append(e.buf, v) }

// Bool writes a boolean as one byte, 0 or 1.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// Int writes a 32-bit big-endian signed integer.
func (e *Encoder) Int(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }

// Long writes a 64-bit big-endian signed integer.
func (e *Encoder) Long(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

// String writes a ustring. Go strings are carried as the exact bytes a peer
// sent, so round trips are byte-identical whatever encoding the peer used
// (Java writes supplementary characters CESU-8 style).
func (e *Encoder) String(s string) {
	e.Int(int32(len(s)))
	e.buf = append(e.buf, s...)
}

// Buffer writes a length-prefixed byte buffer; a nil slice is written as
// length -1 (null), an empty non-nil slice as length 0, as Java does.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(b)))
	e.buf = append(e.buf, b...)
}

// Raw appends bytes without a length prefix.
func (e *Encoder) Raw(b []byte) { e.buf = append(e.buf, b...) }

// StringVector writes a vector of ustrings. A nil vector is written as an
// empty one: no ZooKeeper reply distinguishes them and clients treat -1 as an
// error in places.
func (e *Encoder) StringVector(v []string) {
	e.Int(int32(len(v)))
	for _, s := range v {
		e.String(s)
	}
}

// Decoder reads jute fields from a byte slice. After the first error every
// further read returns a zero value and Err reports that first error.
type Decoder struct {
	buf    []byte
	off    int
	maxLen int
	err    error
}

// NewDecoder returns a decoder over buf that rejects any string, buffer or
// vector length above maxLen (use DefaultMaxBuffer for ZooKeeper's default).
func NewDecoder(buf []byte, maxLen int) *Decoder {
	d := new(Decoder)
	d.reset(buf, maxLen)
	return d
}

func (d *Decoder) reset(buf []byte, maxLen int) {
	if maxLen <= 0 {
		maxLen = DefaultMaxBuffer
	}
	*d = Decoder{buf: buf, maxLen: maxLen}
}

// decoders recycles the Decoders of GetDecoder. A record decodes through
// an interface method (Record.Decode), which makes a Decoder escape to the
// heap, so one made per request or txn would be garbage per request.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// GetDecoder is NewDecoder on a recycled Decoder. Give it back with
// PutDecoder once nothing reads from it; what it decoded stays valid.
func GetDecoder(buf []byte, maxLen int) *Decoder {
	d := decoders.Get().(*Decoder)
	d.reset(buf, maxLen)
	return d
}

// PutDecoder gives d, from GetDecoder, back for reuse.
func PutDecoder(d *Decoder) {
	*d = Decoder{}
	decoders.Put(d)
}

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns how many bytes have been consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns how many bytes are left.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Fail records err as the decoder's error unless one is already recorded.
// Record decoders use it to report semantic problems (a bad count, say).
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *Decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.buf)-d.off {
		d.err = fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrShort, what, n, d.off, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	b := d.take(1, "byte")
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a boolean; any non-zero byte is true, as in Java.
func (d *Decoder) Bool() bool { return d.Byte() != 0 }

// Int reads a 32-bit big-endian signed integer.
func (d *Decoder) Int() int32 {
	b := d.take(4, "int")
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

// Long reads a 64-bit big-endian signed integer.
func (d *Decoder) Long() int64 {
	b := d.take(8, "long")
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// length reads a length prefix; it returns -1 for null and reports an error
// for any other negative value or one over the limit. Each element of a
// vector takes at least minElem bytes, which bounds the count by the input.
func (d *Decoder) length(what string, minElem int) int {
	n := d.Int()
	if d.err != nil {
		return 0
	}
	if n == -1 {
		return -1
	}
	if n < 0 || int(n) > d.maxLen {
		d.err = fmt.Errorf("%w: %s length %d at offset %d (limit %d)", ErrLength, what, n, d.off-4, d.maxLen)
		return 0
	}
	if minElem > 0 && int64(n)*int64(minElem) > int64(len(d.buf)-d.off) {
		d.err = fmt.Errorf("%w: %s of %d elements at offset %d, only %d bytes left", ErrShort, what, n, d.off-4, len(d.buf)-d.off)
		return 0
	}
	return int(n)
}

// String reads a ustring; null (-1) decodes as "".
func (d *Decoder) String() string {
	n := d.length("string", 1)
	if n <= 0 {
		return ""
	}
	return string(d.take(n, "string"))
}

// Buffer reads a buffer. Null (-1) decodes as nil and an empty buffer as a
// non-nil empty slice, so the distinction survives a round trip. The result
// is a copy: callers may keep it after the input is reused.
func (d *Decoder) Buffer() []byte {
	n := d.length("buffer", 1)
	if n < 0 || d.err != nil {
		return nil
	}
	b := d.take(n, "buffer")
	if b == nil {
		return nil
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// VectorLen reads a vector count whose elements take at least minElem bytes
// each; null (-1) is returned as -1.
func (d *Decoder) VectorLen(minElem int) int { return d.length("vector", minElem) }

// StringVector reads a vector of ustrings; null decodes as nil.
func (d *Decoder) StringVector() []string {
	n := d.VectorLen(4)
	if n <= 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.String())
	}
	return out
}

// Rest returns the unread bytes without consuming them.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

// Skip consumes n bytes.
func (d *Decoder) Skip(n int) { d.take(n, "skip") }
