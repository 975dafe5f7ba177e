package prep

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// The *.golden files are written by testdata/GenGolden.java from the real
// ZooKeeper 3.8 PathUtils and the JDK's HashSet; see that file to
// regenerate them.

func readGolden(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return rows
}

func TestValidatePathGolden(t *testing.T) {
	for _, row := range readGolden(t, "paths.golden") {
		path := ""
		if row[0] != "-" {
			b, err := hex.DecodeString(row[0])
			if err != nil {
				t.Fatal(err)
			}
			path = string(b)
		}
		err := ValidatePath(path)
		if got := map[bool]string{true: "ok", false: "bad"}[err == nil]; got != row[1] {
			t.Errorf("ValidatePath(%q) = %v; ZooKeeper says %s", path, err, row[1])
		}
		if err != nil && !isCode(err, proto.ErrBadArguments) {
			t.Errorf("ValidatePath(%q) error %v does not carry BADARGUMENTS", path, err)
		}
		err = ValidateSequentialPath(path)
		if got := map[bool]string{true: "ok", false: "bad"}[err == nil]; got != row[2] {
			t.Errorf("ValidateSequentialPath(%q) = %v; ZooKeeper says %s", path, err, row[2])
		}
	}
}

func isCode(err error, code proto.Code) bool {
	var ke proto.KeeperError
	return errors.As(err, &ke) && ke.Code() == code
}

func TestValidatePathReasons(t *testing.T) {
	tests := []struct{ path, reason string }{
		{"", "length must be > 0"},
		{"a", "must start with /"},
		{"/a/", "must not end with /"},
		{"/a\x00", "null character not allowed @2"},
		{"/a//b", "empty node name specified @3"},
		{"/a/..", "relative paths not allowed @4"},
		{"/a\x01", "invalid character @2"},
		{"/a\xff", "not UTF-8 @2"},
	}
	for _, tt := range tests {
		err := ValidatePath(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidatePath(%q) = %v, want it to say %q", tt.path, err, tt.reason)
		}
	}
}

func TestParentOf(t *testing.T) {
	tests := []struct {
		path, parent string
		ok           bool
	}{
		{"/a", "", true},
		{"/a/b", "/a", true},
		{"/a/", "/a", true},
		{"/a//b", "/a/", true},
		{"/", "", true},
		{"a", "", false},
		{"", "", false},
		{"/a\x00/b", "", false},
	}
	for _, tt := range tests {
		parent, ok := parentOf(tt.path)
		if parent != tt.parent || ok != tt.ok {
			t.Errorf("parentOf(%q) = %q, %v; want %q, %v", tt.path, parent, ok, tt.parent, tt.ok)
		}
	}
}

func TestJavaStringSetGolden(t *testing.T) {
	for _, row := range readGolden(t, "ephemerals.golden") {
		var tree []string
		set := (*javaStringSet)(nil)
		for _, f := range strings.Fields(row[0]) {
			switch f[0] {
			case '+', '-':
				if set == nil {
					set = cloneOf(tree)
				}
				if f[0] == '+' {
					set.add(f[1:])
				} else {
					set.remove(f[1:])
				}
			default:
				tree = append(tree, f)
			}
		}
		if set == nil {
			set = cloneOf(tree)
		}
		if got := strings.Join(set.list(), " "); got != row[1] {
			t.Errorf("HashSet order for %q\n got %s\nwant %s", row[0], got, row[1])
		}
	}
}

// cloneOf builds the set DataTree would hold for paths created in order and
// returns the clone getEphemerals hands out.
func cloneOf(paths []string) *javaStringSet {
	src := &javaStringSet{}
	for _, p := range paths {
		src.add(p)
	}
	return cloneJavaStringSet(src.list())
}

func TestJavaStringSetResizesOnCollisions(t *testing.T) {
	// Strings with equal hash codes share a bin: "Aa" and "BB" collide,
	// and so do all concatenations of them. Nine in one bin of a small
	// table make HashMap grow instead of building a tree.
	words := []string{"Aa", "BB"}
	for len(words) < 16 {
		var next []string
		for _, a := range words {
			next = append(next, a+"Aa", a+"BB")
		}
		words = next
	}
	s := &javaStringSet{}
	for _, w := range words[:9] {
		s.add(w)
	}
	if len(s.bins) != 32 {
		t.Errorf("table size = %d after nine colliding strings, want 32", len(s.bins))
	}
	if got := strings.Join(s.list(), " "); got != strings.Join(words[:9], " ") {
		t.Errorf("colliding strings lost insertion order: %s", got)
	}
	s.remove(words[3])
	s.remove("absent")
	if len(s.list()) != 8 || s.size != 8 {
		t.Errorf("after remove: %v (size %d)", s.list(), s.size)
	}
}
