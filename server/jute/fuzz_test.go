package jute

import (
	"reflect"
	"testing"
)

// FuzzDecoder reads the input as a schema-driven sequence of primitives:
// the first byte picks the field kinds, the rest is the data. Decoding must
// never panic, must never consume more than the input, and whatever decodes
// must re-encode to the bytes it was read from (strings and buffers are
// carried byte for byte).
func FuzzDecoder(f *testing.F) {
	e := NewEncoder(nil)
	e.String("/a/b")
	e.Buffer([]byte{1, 2})
	e.StringVector([]string{"x", "yz"})
	e.Long(-1)
	f.Add(byte(0x00), e.Bytes())
	f.Add(byte(0xe4), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(byte(0x1b), []byte{0x7f, 0xff, 0xff, 0xff})
	f.Add(byte(0x55), []byte{0, 0, 0, 1, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, schema byte, in []byte) {
		d := NewDecoder(in, 1<<16)
		out := NewEncoder(nil)
		s := schema
		for i := 0; i < 8 && d.Err() == nil && d.Remaining() > 0; i++ {
			kind := s & 7
			s = s>>3 | s<<5
			switch kind {
			case 0:
				out.String(d.String())
			case 1:
				out.Buffer(d.Buffer())
			case 2:
				out.StringVector(d.StringVector())
			case 3:
				out.Int(d.Int())
			case 4:
				out.Long(d.Long())
			case 5:
				out.Byte(d.Byte())
			case 6:
				n := d.VectorLen(4)
				if d.Err() == nil && n > d.Remaining()/4 {
					t.Fatalf("vector count %d passed with %d bytes left", n, d.Remaining())
				}
				// The count is checked against what is left, so carry the
				// rest over verbatim and stop: the re-encoding keeps it valid.
				out.Int(int32(n))
				out.Raw(d.Rest())
				d.Skip(d.Remaining())
			default:
				out.Bool(d.Bool())
			}
		}
		if d.Offset() > len(in) || d.Offset() < 0 {
			t.Fatalf("offset %d outside input of %d bytes", d.Offset(), len(in))
		}
		if d.Err() != nil {
			return
		}
		// A null string, null vector and a non-canonical bool do not keep
		// their bytes, so compare by decoding the re-encoding instead.
		again := NewDecoder(out.Bytes(), 1<<16)
		first := snapshot(NewDecoder(in, 1<<16), schema, d.Offset())
		second := snapshot(again, schema, len(out.Bytes()))
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("re-encoding changed the values:\n first %#v\nsecond %#v", first, second)
		}
	})
}

// snapshot decodes the same schema again, stopping at limit bytes, and
// returns the values with nulls normalised the way re-encoding does.
func snapshot(d *Decoder, schema byte, limit int) []any {
	var vals []any
	s := schema
	for i := 0; i < 8 && d.Err() == nil && d.Offset() < limit; i++ {
		kind := s & 7
		s = s>>3 | s<<5
		switch kind {
		case 0:
			vals = append(vals, d.String())
		case 1:
			vals = append(vals, d.Buffer())
		case 2:
			v := d.StringVector()
			if v == nil {
				v = []string{}
			}
			vals = append(vals, v)
		case 3:
			vals = append(vals, d.Int())
		case 4:
			vals = append(vals, d.Long())
		case 5:
			vals = append(vals, d.Byte())
		case 6:
			vals = append(vals, d.VectorLen(4), append([]byte(nil), d.Rest()...))
			d.Skip(d.Remaining())
		default:
			vals = append(vals, d.Bool())
		}
	}
	return vals
}
