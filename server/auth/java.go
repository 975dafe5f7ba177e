package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zkd-io/zkd/server/javalang"
	"github.com/zkd-io/zkd/server/proto"
)

// This file holds the few pieces of Java runtime behaviour that leak into
// what ZooKeeper stores and replies: how it decodes UTF-8, how String.split
// and Integer.parseInt read ACL ids, and the iteration order of the
// ConcurrentHashMap that holds a connection's identities. Each is small, but
// without them an ACL id, a digest or a whoAmI reply would differ from a Java
// server's for the same input.

// javaDecode returns s as ZooKeeper sees it after `new String(bytes,
// UTF_8)`: valid UTF-8 is unchanged, and each malformed sequence becomes
// U+FFFD the way the JDK 8-17 decoder (sun.nio.cs.UTF_8) replaces it. Jute
// strings and digest auth data both go through that decoder, so a digest
// computed from, or an ACL id stored from, invalid UTF-8 must use the
// replaced text to match a Java server.
func javaDecode(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	const repl = "\uFFFD"
	var b strings.Builder
	n := len(s)
	cont := func(c byte) bool { return c&0xc0 == 0x80 }
	for i := 0; i < n; {
		b1 := s[i]
		switch {
		case b1 < 0x80:
			b.WriteByte(b1)
			i++
		case b1 >= 0xc2 && b1 <= 0xdf: // two bytes
			if i+1 >= n {
				b.WriteString(repl)
				return b.String()
			}
			if !cont(s[i+1]) {
				b.WriteString(repl)
				i++
				continue
			}
			b.WriteString(s[i : i+2])
			i += 2
		case b1 >= 0xe0 && b1 <= 0xef: // three bytes
			bad2 := func(b2 byte) bool { return (b1 == 0xe0 && b2&0xe0 == 0x80) || !cont(b2) }
			if i+2 >= n {
				b.WriteString(repl)
				if i+1 < n && bad2(s[i+1]) {
					i++
					continue
				}
				return b.String()
			}
			b2, b3 := s[i+1], s[i+2]
			if bad2(b2) || !cont(b3) {
				b.WriteString(repl)
				if bad2(b2) {
					i++
				} else {
					i += 2
				}
				continue
			}
			if b1 == 0xed && b2 >= 0xa0 { // an encoded surrogate
				b.WriteString(repl)
			} else {
				b.WriteString(s[i : i+3])
			}
			i += 3
		case b1 >= 0xf0 && b1 <= 0xf7: // four bytes
			bad2 := func(b2 byte) bool {
				return (b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf)) || (b1 == 0xf4 && b2&0xf0 != 0x80) || !cont(b2)
			}
			if i+3 >= n {
				b.WriteString(repl)
				if b1 > 0xf4 || (i+1 < n && bad2(s[i+1])) {
					i++
					continue
				}
				if i+2 < n && !cont(s[i+2]) {
					i += 2
					continue
				}
				return b.String()
			}
			b2, b3, b4 := s[i+1], s[i+2], s[i+3]
			cp := rune(b1&0x07)<<18 | rune(b2&0x3f)<<12 | rune(b3&0x3f)<<6 | rune(b4&0x3f)
			if !cont(b2) || !cont(b3) || !cont(b4) || cp < 0x10000 || cp > unicode.MaxRune {
				b.WriteString(repl)
				switch {
				case b1 > 0xf4 || bad2(b2):
					i++
				case !cont(b3):
					i += 2
				default:
					i += 3
				}
				continue
			}
			b.WriteString(s[i : i+4])
			i += 4
		default: // a continuation byte, C0, C1 or F8..FF
			b.WriteString(repl)
			i++
		}
	}
	return b.String()
}

// idHash is the jute-generated Id.hashCode.
func idHash(id proto.ID) int32 {
	result := int32(17)
	result = 37*result + javalang.StringHashCode(id.Scheme)
	result = 37*result + javalang.StringHashCode(id.ID)
	return result
}

// javaSplit is String.split with a one-character, non-regex separator.
// limit > 0 caps the number of parts, limit == 0 drops trailing empty parts,
// and limit < 0 keeps them, as in Java. A string without sep splits into
// itself, even when it is empty.
func javaSplit(s string, sep byte, limit int) []string {
	if strings.IndexByte(s, sep) < 0 {
		return []string{s}
	}
	var parts []string
	if limit > 0 {
		parts = strings.SplitN(s, string(sep), limit)
	} else {
		parts = strings.Split(s, string(sep))
	}
	if limit == 0 {
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
	}
	return parts
}

// javaParseInt is Integer.parseInt(s, 10): an optional sign followed by one
// or more decimal digits, where any Unicode decimal digit in the Basic
// Multilingual Plane counts (Character.digit), and the value must fit an
// int32.
func javaParseInt(s string) (int32, bool) {
	if s == "" {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var v int64
	for _, r := range s {
		d, ok := decimalDigit(r)
		if !ok {
			return 0, false
		}
		v = v*10 + int64(d)
		if v > 1<<31 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 || v < -1<<31 {
		return 0, false
	}
	return int32(v), true
}

// decimalDigit is Character.digit(c, 10) for a UTF-16 code unit: the value
// of a Unicode decimal digit (category Nd). Supplementary characters reach
// Java as two surrogates, which are not digits.
func decimalDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r > 0xffff || !unicode.IsDigit(r) {
		return 0, false
	}
	// Nd characters come in runs of ten starting at a zero.
	zero := r
	for zero > 0 && unicode.IsDigit(zero-1) {
		zero--
	}
	return int(r-zero) % 10, true
}

// chmSet reproduces the iteration order of the
// Collections.newSetFromMap(new ConcurrentHashMap<>()) in which
// ServerCnxn keeps a connection's identities. That order is visible: the
// "auth" ACL scheme expands to the identities in it, and whoAmI lists them
// in it. Identities land in bins by their spread hash, each bin keeps
// insertion order, and a resize splits bins as ConcurrentHashMap.transfer
// does. (Bins are never long enough in practice to become trees.)
type chmSet struct {
	bins    [][]chmEntry
	count   int
	sizeCtl int
}

type chmEntry struct {
	hash int32
	id   proto.ID
}

func newCHMSet() *chmSet {
	return &chmSet{bins: make([][]chmEntry, 16), sizeCtl: 12}
}

// spread is ConcurrentHashMap.spread.
func spread(h int32) int32 {
	return (h ^ int32(uint32(h)>>16)) & 0x7fffffff
}

func (s *chmSet) add(id proto.ID) {
	h := spread(idHash(id))
	i := int(h) & (len(s.bins) - 1)
	for _, e := range s.bins[i] {
		if e.id == id {
			return
		}
	}
	s.bins[i] = append(s.bins[i], chmEntry{hash: h, id: id})
	s.count++
	if s.count >= s.sizeCtl {
		s.transfer()
	}
}

// transfer doubles the table the way ConcurrentHashMap.transfer does: the
// tail run of a bin whose entries all go to the same half keeps its order,
// and the entries before it are pushed in front of their half one by one,
// which reverses them.
func (s *chmSet) transfer() {
	n := len(s.bins)
	next := make([][]chmEntry, 2*n)
	for i, bin := range s.bins {
		if len(bin) == 0 {
			continue
		}
		high := func(e chmEntry) bool { return int(e.hash)&n != 0 }
		lastRun := 0
		for j := 1; j < len(bin); j++ {
			if high(bin[j]) != high(bin[lastRun]) {
				lastRun = j
			}
		}
		var lo, hi []chmEntry
		if high(bin[lastRun]) {
			hi = append(hi, bin[lastRun:]...)
		} else {
			lo = append(lo, bin[lastRun:]...)
		}
		for j := 0; j < lastRun; j++ {
			if high(bin[j]) {
				hi = append([]chmEntry{bin[j]}, hi...)
			} else {
				lo = append([]chmEntry{bin[j]}, lo...)
			}
		}
		next[i], next[i+n] = lo, hi
	}
	s.bins = next
	s.sizeCtl = 2*n - n/2
}

func (s *chmSet) list() []proto.ID {
	out := make([]proto.ID, 0, s.count)
	for _, bin := range s.bins {
		for _, e := range bin {
			out = append(out, e.id)
		}
	}
	return out
}
