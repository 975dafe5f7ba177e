package jute

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
)

// TestPrimitivesGolden checks each primitive against the byte layout of
// Java's BinaryOutputArchive: big-endian, length-prefixed, no padding.
func TestPrimitivesGolden(t *testing.T) {
	tests := []struct {
		name   string
		encode func(e *Encoder)
		want   []byte
	}{
		{"byte", func(e *Encoder) { e.Byte(0xab) }, []byte{0xab}},
		{"bool true", func(e *Encoder) { e.Bool(true) }, []byte{1}},
		{"bool false", func(e *Encoder) { e.Bool(false) }, []byte{0}},
		{"int", func(e *Encoder) { e.Int(-2) }, []byte{0xff, 0xff, 0xff, 0xfe}},
		{"int max", func(e *Encoder) { e.Int(math.MaxInt32) }, []byte{0x7f, 0xff, 0xff, 0xff}},
		{"long", func(e *Encoder) { e.Long(0x0102030405060708) }, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"long min", func(e *Encoder) { e.Long(math.MinInt64) }, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"string", func(e *Encoder) { e.String("/a") }, []byte{0, 0, 0, 2, '/', 'a'}},
		{"empty string", func(e *Encoder) { e.String("") }, []byte{0, 0, 0, 0}},
		{"null buffer", func(e *Encoder) { e.Buffer(nil) }, []byte{0xff, 0xff, 0xff, 0xff}},
		{"empty buffer", func(e *Encoder) { e.Buffer([]byte{}) }, []byte{0, 0, 0, 0}},
		{"buffer", func(e *Encoder) { e.Buffer([]byte{9, 8}) }, []byte{0, 0, 0, 2, 9, 8}},
		{"nil vector", func(e *Encoder) { e.StringVector(nil) }, []byte{0, 0, 0, 0}},
		{"vector", func(e *Encoder) { e.StringVector([]string{"x", ""}) }, []byte{0, 0, 0, 2, 0, 0, 0, 1, 'x', 0, 0, 0, 0}},
		{"raw", func(e *Encoder) { e.Raw([]byte{7}) }, []byte{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEncoder(nil)
			tt.encode(e)
			if !bytes.Equal(e.Bytes(), tt.want) {
				t.Fatalf("encoded % x, want % x", e.Bytes(), tt.want)
			}
			if e.Len() != len(tt.want) {
				t.Fatalf("Len() = %d, want %d", e.Len(), len(tt.want))
			}
		})
	}
}

func TestEncoderReuse(t *testing.T) {
	buf := make([]byte, 0, 64)
	e := NewEncoder(buf)
	e.Int(1)
	e.Reset()
	if e.Len() != 0 {
		t.Fatalf("Len after Reset = %d", e.Len())
	}
	e.Long(2)
	if got := e.Bytes(); len(got) != 8 || &got[0] != &buf[:1][0] {
		t.Fatalf("encoder did not reuse the buffer it was given")
	}
}

// TestRoundTrip encodes a mix of every field kind and decodes it back.
func TestRoundTrip(t *testing.T) {
	type fields struct {
		B   byte
		T   bool
		I   int32
		L   int64
		S   string
		Buf []byte
		V   []string
	}
	tests := []fields{
		{},
		{B: 1, T: true, I: -1, L: -1, S: "/zk", Buf: []byte{}, V: []string{"a", "bc"}},
		{B: 0xff, I: math.MinInt32, L: math.MaxInt64, S: "\xed\xa0\xbd\xed\xb8\x80", Buf: []byte{0, 1, 2}},
	}
	for i, want := range tests {
		e := NewEncoder(nil)
		e.Byte(want.B)
		e.Bool(want.T)
		e.Int(want.I)
		e.Long(want.L)
		e.String(want.S)
		e.Buffer(want.Buf)
		e.StringVector(want.V)

		d := NewDecoder(e.Bytes(), DefaultMaxBuffer)
		var got fields
		got.B = d.Byte()
		got.T = d.Bool()
		got.I = d.Int()
		got.L = d.Long()
		got.S = d.String()
		got.Buf = d.Buffer()
		got.V = d.StringVector()
		if err := d.Err(); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if d.Remaining() != 0 || d.Offset() != len(e.Bytes()) {
			t.Fatalf("case %d: %d bytes left, offset %d of %d", i, d.Remaining(), d.Offset(), len(e.Bytes()))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: got %#v, want %#v", i, got, want)
		}
	}
}

// TestNullVersusEmpty pins down that null (-1) and empty (0) buffers stay
// distinct, because getData must return exactly what create stored.
func TestNullVersusEmpty(t *testing.T) {
	tests := []struct {
		in      []byte
		wantNil bool
	}{
		{[]byte{0xff, 0xff, 0xff, 0xff}, true},
		{[]byte{0, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		d := NewDecoder(tt.in, 0)
		b := d.Buffer()
		if d.Err() != nil {
			t.Fatalf("% x: %v", tt.in, d.Err())
		}
		if (b == nil) != tt.wantNil || len(b) != 0 {
			t.Fatalf("% x decoded as %#v, want nil=%v", tt.in, b, tt.wantNil)
		}
		if out := NewEncoder(nil); true {
			out.Buffer(b)
			if !bytes.Equal(out.Bytes(), tt.in) {
				t.Fatalf("re-encoded % x as % x", tt.in, out.Bytes())
			}
		}
	}
	// Null strings and vectors decode as their zero values.
	d := NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0)
	if s, v := d.String(), d.StringVector(); s != "" || v != nil || d.Err() != nil {
		t.Fatalf("null string/vector = %q, %#v, err %v", s, v, d.Err())
	}
	if d := NewDecoder([]byte{0xff, 0xff, 0xff, 0xff}, 0); d.VectorLen(1) != -1 || d.Err() != nil {
		t.Fatalf("null vector length not reported as -1 (err %v)", d.Err())
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		read    func(d *Decoder)
		wantErr error
	}{
		{"empty byte", nil, 0, func(d *Decoder) { d.Byte() }, ErrShort},
		{"short int", []byte{0, 0, 1}, 0, func(d *Decoder) { d.Int() }, ErrShort},
		{"short long", []byte{0, 0, 0, 0, 0, 0, 1}, 0, func(d *Decoder) { d.Long() }, ErrShort},
		{"string -2", []byte{0xff, 0xff, 0xff, 0xfe}, 0, func(d *Decoder) { _ = d.String() }, ErrLength},
		{"buffer min int", []byte{0x80, 0, 0, 0}, 0, func(d *Decoder) { d.Buffer() }, ErrLength},
		{"buffer over limit", []byte{0, 0, 0, 11}, 10, func(d *Decoder) { d.Buffer() }, ErrLength},
		{"buffer over default", []byte{0x7f, 0xff, 0xff, 0xff}, 0, func(d *Decoder) { d.Buffer() }, ErrLength},
		{"string truncated", []byte{0, 0, 0, 5, 'a', 'b'}, 0, func(d *Decoder) { _ = d.String() }, ErrShort},
		{"buffer truncated", []byte{0, 0, 0, 3, 1}, 0, func(d *Decoder) { d.Buffer() }, ErrShort},
		{"vector count beyond input", []byte{0, 0, 0x10, 0, 0, 0, 0, 0}, 0, func(d *Decoder) { d.StringVector() }, ErrShort},
		{"vector count negative", []byte{0xff, 0xff, 0xff, 0xf0}, 0, func(d *Decoder) { d.StringVector() }, ErrLength},
		{"vector element truncated", []byte{0, 0, 0, 1, 0, 0, 0, 9, 'x'}, 0, func(d *Decoder) { d.StringVector() }, ErrShort},
		{"skip past end", []byte{1}, 0, func(d *Decoder) { d.Skip(2) }, ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.in, tt.max)
			tt.read(d)
			if !errors.Is(d.Err(), tt.wantErr) {
				t.Fatalf("err = %v, want %v", d.Err(), tt.wantErr)
			}
			// The error is sticky: later reads return zero values.
			if v := d.Int(); v != 0 {
				t.Fatalf("read after error returned %d", v)
			}
			if !errors.Is(d.Err(), tt.wantErr) {
				t.Fatalf("first error replaced by %v", d.Err())
			}
		})
	}
}

func TestFailKeepsFirstError(t *testing.T) {
	d := NewDecoder(nil, 0)
	first, second := errors.New("first"), errors.New("second")
	d.Fail(first)
	d.Fail(second)
	if d.Err() != first {
		t.Fatalf("Err() = %v, want the first error", d.Err())
	}
}

// TestBufferIsCopy makes sure a decoded buffer does not alias the input,
// which the server reuses for the next frame.
func TestBufferIsCopy(t *testing.T) {
	in := []byte{0, 0, 0, 2, 'a', 'b'}
	d := NewDecoder(in, 0)
	b := d.Buffer()
	in[4] = 'z'
	if string(b) != "ab" {
		t.Fatalf("decoded buffer changed with its input: %q", b)
	}
}

func TestRestAndSkip(t *testing.T) {
	d := NewDecoder([]byte{1, 2, 3, 4}, 0)
	d.Skip(1)
	if got := d.Rest(); !bytes.Equal(got, []byte{2, 3, 4}) || d.Remaining() != 3 {
		t.Fatalf("Rest = % x, Remaining %d", got, d.Remaining())
	}
}

// TestSmallInputAllocatesLittle is the memory guard: a hostile 8-byte input
// claiming a huge vector must not make the decoder allocate for it. It
// measures bytes, not allocation counts, which the race detector changes.
func TestSmallInputAllocatesLittle(t *testing.T) {
	in := []byte{0, 0x0f, 0xff, 0xff, 0, 0, 0, 0}
	const runs = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		d := NewDecoder(in, DefaultMaxBuffer)
		_ = d.StringVector()
		if d.Err() == nil {
			t.Fatal("huge vector count accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 2048 {
		t.Fatalf("%d bytes allocated per decode of 8 hostile bytes", perRun)
	}
}

// TestRecycledDecoderStartsClean: a decoder given back after an error, a
// low limit or a partial read decodes its next buffer as a new one would,
// and what the first decoded stays valid once it is given back.
func TestRecycledDecoderStartsClean(t *testing.T) {
	first := []byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 11}
	d := GetDecoder(first, 10)
	kept := d.Buffer()
	d.Buffer() // over the limit of 10
	if !errors.Is(d.Err(), ErrLength) {
		t.Fatalf("err = %v, want %v", d.Err(), ErrLength)
	}
	PutDecoder(d)
	if string(kept) != "ab" {
		t.Fatalf("a buffer decoded before PutDecoder reads %q", kept)
	}
	second := []byte{0, 0, 0, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for range 3 { // the pool may or may not hand the same decoder back
		d := GetDecoder(second, 0)
		if got := d.Buffer(); d.Err() != nil || len(got) != 11 || d.Offset() != len(second) {
			t.Fatalf("recycled decoder: %d bytes, offset %d, err %v; want all 11 bytes under the default limit", len(got), d.Offset(), d.Err())
		}
		PutDecoder(d)
	}
}
