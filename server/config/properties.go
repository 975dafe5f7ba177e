package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxFileSize bounds how much of a configuration file is read. Real zoo.cfg
// files are a few kilobytes; the bound only stops a mistaken path such as
// /dev/zero from consuming memory without end.
const maxFileSize = 16 << 20

// property is one key/value pair of a Java properties file, after escape
// processing and after the trimming ZooKeeper applies to keys and values.
type property struct {
	key, value string
	line       int // 1-based line on which the logical line starts
}

// readProperties reads r with the syntax of java.util.Properties.load, which
// is what ZooKeeper uses for zoo.cfg: '#' and '!' comment lines, "key=value",
// "key: value" and "key value", continuation lines ending in an odd number of
// backslashes, and backslash escapes (\t \n \r \f \uXXXX, anything else
// stands for itself). Keys and values are then trimmed as ZooKeeper does.
//
// Java decodes the stream as ISO-8859-1; here bytes are kept as they are, so a
// UTF-8 path in dataDir stays the path the operator wrote.
func readProperties(r io.Reader) ([]property, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	lines := splitLines(data)
	var props []property
	for i := 0; i < len(lines); i++ {
		s := trimLeftBlank(lines[i])
		if len(s) == 0 || s[0] == '#' || s[0] == '!' {
			continue
		}
		start := i + 1
		var logical []byte
		for {
			if !endsWithOddBackslashes(s) {
				logical = append(logical, s...)
				break
			}
			logical = append(logical, s[:len(s)-1]...)
			i++
			if i == len(lines) {
				// A continuation at end of file: Java drops the
				// backslash and ends the line.
				break
			}
			s = trimLeftBlank(lines[i])
		}
		p, err := splitKeyValue(logical)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		p.line = start
		props = append(props, p)
	}
	return props, nil
}

// splitLines splits data at "\n", "\r" and "\r\n", the line terminators
// java.util.Properties recognises.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i])
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return lines
}

// isBlank reports whether c is whitespace to java.util.Properties.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeftBlank(s []byte) []byte {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	return s
}

func endsWithOddBackslashes(s []byte) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitKeyValue separates a logical line into key and value: the key ends at
// the first unescaped '=', ':' or blank; blanks and at most one '=' or ':'
// follow before the value.
func splitKeyValue(line []byte) (property, error) {
	keyLen, valueStart := 0, len(line)
	hasSep, escaped := false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if !escaped && (c == '=' || c == ':') {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if !escaped && isBlank(c) {
			valueStart = keyLen + 1
			break
		}
		escaped = c == '\\' && !escaped
		keyLen++
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isBlank(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valueStart++
	}
	key, err := unescape(line[:keyLen])
	if err != nil {
		return property{}, err
	}
	value, err := unescape(line[valueStart:])
	if err != nil {
		return property{}, err
	}
	return property{key: javaTrim(key), value: javaTrim(value)}, nil
}

var errMalformedUnicode = errors.New(`malformed \uxxxx escape`)

// unescape resolves the backslash escapes of java.util.Properties.
func unescape(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i == len(s) {
			break // a lone trailing backslash stands for nothing
		}
		c = s[i]
		i++
		switch c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, n, err := decodeUnicodeEscape(s[i:])
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// decodeUnicodeEscape decodes the four hex digits after "\u" at the start of
// s. A UTF-16 surrogate pair written as two escapes becomes one rune. It
// returns the rune and the number of bytes of s consumed.
func decodeUnicodeEscape(s []byte) (rune, int, error) {
	hi, ok := hex4(s)
	if !ok {
		return 0, 0, errMalformedUnicode
	}
	if utf16.IsSurrogate(rune(hi)) && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if lo, ok := hex4(s[6:]); ok {
			if r := utf16.DecodeRune(rune(hi), rune(lo)); r != utf8.RuneError {
				return r, 10, nil
			}
		}
	}
	if utf16.IsSurrogate(rune(hi)) {
		return utf8.RuneError, 4, nil
	}
	return rune(hi), 4, nil
}

func hex4(s []byte) (uint16, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var v uint16
	for _, c := range s[:4] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	return v, true
}

// javaTrim removes leading and trailing characters up to and including
// U+0020, as Java's String.trim does (it also strips control characters).
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}
