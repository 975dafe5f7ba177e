// Package javalang reproduces the few java.lang behaviours that leak into
// ZooKeeper's observable output. ZooKeeper orders some sets by Java hash
// codes (a session's identities, the ephemerals a closeSession deletes), so
// matching its order, and so what clients see, needs Java's hashes exactly.
package javalang

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// StringHashCode is java.lang.String.hashCode: the polynomial hash (31) of
// the string's UTF-16 code units. s is decoded as UTF-8; supplementary
// characters count as their two surrogates, as in Java.
func StringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// FormatDouble formats f as Java's Double.toString: plain decimal with at
// least one fractional digit for magnitudes in [1e-3, 1e7), otherwise
// computerized scientific notation such as "1.0E7" or "2.5E-4". ZooKeeper's
// srvr, mntr and AdminServer print averages this way.
func FormatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if abs := math.Abs(f); abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp) // FormatFloat always writes a decimal exponent
	return mant + "E" + strconv.Itoa(n)
}

// RoundHalfUp rounds f to scale decimals the way BigDecimal.setScale(scale,
// HALF_UP) does for the non-negative averages ZooKeeper prints.
func RoundHalfUp(f float64, scale int) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	p := math.Pow10(scale)
	return math.Round(f*p) / p
}
