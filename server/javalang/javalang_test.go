package javalang

import (
	"math"
	"testing"
)

func TestStringHashCode(t *testing.T) {
	// Expected values are what Java's "...".hashCode() returns.
	cases := []struct {
		in   string
		want int32
	}{
		{"", 0},
		{"a", 97},
		{"hello", 99162322},
		{"/zookeeper", 954481661},
		{"digest", -1331913276},
		{"polygenelubricants", -2147483648},
		{"\U0001F600", 1772899}, // one supplementary char = two surrogates
	}
	for _, c := range cases {
		if got := StringHashCode(c.in); got != c.want {
			t.Errorf("StringHashCode(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestFormatDouble(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{108.2222, "108.2222"},
		{0.5, "0.5"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{0.00025, "2.5E-4"},
		{9999999, "9999999.0"},
		{1e7, "1.0E7"},
		{12345678.5, "1.23456785E7"},
		{-3.25, "-3.25"},
		{1e21, "1.0E21"},
		{0.0009, "9.0E-4"},
		{1.5e300, "1.5E300"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tc := range tests {
		if got := FormatDouble(tc.in); got != tc.want {
			t.Errorf("FormatDouble(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoundHalfUp(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{108.22224, 108.2222},
		{108.22225, 108.2223},
		{1.0 / 3, 0.3333},
		{2.0 / 3, 0.6667},
		{0, 0},
	}
	for _, tc := range tests {
		if got := RoundHalfUp(tc.in, 4); got != tc.want {
			t.Errorf("RoundHalfUp(%v, 4) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
