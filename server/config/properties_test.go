package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []property
	}{
		{"equals", "a=b", []property{{"a", "b", 1}}},
		{"colon", "a: b", []property{{"a", "b", 1}}},
		{"blank separator", "a b", []property{{"a", "b", 1}}},
		{"blanks around equals", "  a \t=\f b  ", []property{{"a", "b", 1}}},
		{"second separator is part of the value", "a==b", []property{{"a", "=b", 1}}},
		{"blank then equals", "a = =b", []property{{"a", "=b", 1}}},
		{"colon in value", "server.1=h:2888:3888", []property{{"server.1", "h:2888:3888", 1}}},
		{"empty value", "a=", []property{{"a", "", 1}}},
		{"key only", "a", []property{{"a", "", 1}}},
		{"trailing whitespace trimmed", "a=b \t\r\n", []property{{"a", "b", 1}}},
		{"comments and blank lines", "# c\n! c\n   # indented\n\n \t \nx=1", []property{{"x", "1", 6}}},
		{"hash inside value", "a=b#c", []property{{"a", "b#c", 1}}},
		{"continuation", "a=b\\\n   c\nd=e", []property{{"a", "bc", 1}, {"d", "e", 3}}},
		{"continuation keeps blanks before backslash", "a=b \\\n  c", []property{{"a", "b c", 1}}},
		{"continuation over CRLF", "a=b\\\r\nc\r\nd=e\r\n", []property{{"a", "bc", 1}, {"d", "e", 3}}},
		{"CR line endings", "a=1\rb=2\r", []property{{"a", "1", 1}, {"b", "2", 2}}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", []property{{"a", `b\`, 1}, {"c", "d", 2}}},
		{"comment on continuation line is data", "a=b\\\n#c", []property{{"a", "b#c", 1}}},
		{"comment line ending in backslash does not continue", "#x\\\na=b", []property{{"a", "b", 2}}},
		{"empty continuation line ends the logical line", "a=b\\\n\nc=d", []property{{"a", "b", 1}, {"c", "d", 3}}},
		{"continuation at end of file", "a=b\\", []property{{"a", "b", 1}}},
		{"escaped separator in key", `a\:b\=c=d`, []property{{"a:b=c", "d", 1}}},
		{"escaped blank in key", `a\ b=c`, []property{{"a b", "c", 1}}},
		{"escapes", `a=\t\u0041\x\\`, []property{{"a", "Ax\\", 1}}},
		{"surrogate pair", `a=\uD83D\uDE00`, []property{{"a", "\U0001F600", 1}}},
		{"lone surrogate", `a=\uD83Dx`, []property{{"a", "\uFFFDx", 1}}},
		{"UTF-8 kept as is", "dataDir=/data/zoo\u00e9", []property{{"dataDir", "/data/zoo\u00e9", 1}}},
		{"repeated keys are all returned", "a=1\na=2", []property{{"a", "1", 1}, {"a", "2", 2}}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readProperties(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("readProperties: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadPropertiesErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short unicode escape", "a=1\nb=\\u12", `line 2: malformed \uxxxx escape`},
		{"non-hex unicode escape", `a=\u12g4`, `line 1: malformed \uxxxx escape`},
		{"too large", strings.Repeat("#", maxFileSize+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readProperties(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
