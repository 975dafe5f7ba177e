package snapshot

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		name   string
		zxid   int64
		method string
	}{
		{"snapshot.0", 0, ""},
		{"snapshot.100000060", 0x100000060, ""},
		{"snapshot.1a.gz", 0x1a, "gz"},
		{"snapshot.1a.snappy", 0x1a, "snappy"},
		{"snapshot.1a.tmp", 0x1a, ""}, // ZooKeeper would try it as plain
		{"snapshot.", -1, ""},
		{"snapshot.xyz", -1, ""},
		{"snapshot.-5", -5, ""},
		{"snapshot.ffffffffffffffff", -1, ""}, // Long.parseLong overflows
		{"log.100000001", -1, ""},
		{".snapshot.5.123.tmp", -1, ""}, // WriteFile's temporary names
	} {
		if got := ZxidFromName(tt.name); got != tt.zxid {
			t.Errorf("ZxidFromName(%q) = %d, want %d", tt.name, got, tt.zxid)
		}
		if got := methodOf(tt.name); got != tt.method {
			t.Errorf("methodOf(%q) = %q, want %q", tt.name, got, tt.method)
		}
	}
	for _, tt := range []struct {
		zxid   int64
		method string
		want   string
	}{
		{0, "", "snapshot.0"},
		{0x200000011, "", "snapshot.200000011"},
		{0xabc, "gz", "snapshot.abc.gz"},
		{0xabc, "snappy", "snapshot.abc.snappy"},
	} {
		if got := FileName(tt.zxid, tt.method); got != tt.want {
			t.Errorf("FileName(%#x, %q) = %q, want %q", tt.zxid, tt.method, got, tt.want)
		}
	}
}

// TestList checks the order and ZooKeeper's isValidSnapshot pre-check.
func TestList(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"snapshot.1":         []byte("0123456789\x00\x00\x00\x01/"), // tail check only
		"snapshot.2":         []byte("0123456789\x00\x00\x00\x01X"),
		"snapshot.3":         []byte("\x00\x00\x00\x01/"), // shorter than 10
		"snapshot.10.gz":     {0x1f, 0x8b, 8},
		"snapshot.11.gz":     {0x1f},
		"snapshot.12.snappy": append(snappyMagic[:], 0, 0, 0, 1),
		"snapshot.13.snappy": []byte("SNAPPY\x00\x00"),
		"log.5":              []byte("x"),
		"snapshot.zz":        []byte("x"),
		".snapshot.9.1.tmp":  []byte("x"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "snapshot.99"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, zxid int64, method string, valid bool) File {
		return File{Path: filepath.Join(dir, name), Zxid: zxid, Method: method, Valid: valid}
	}
	want := []File{
		f("snapshot.13.snappy", 0x13, "snappy", false),
		f("snapshot.12.snappy", 0x12, "snappy", true),
		f("snapshot.11.gz", 0x11, "gz", false),
		f("snapshot.10.gz", 0x10, "gz", true),
		f("snapshot.3", 3, "", false),
		f("snapshot.2", 2, "", false),
		f("snapshot.1", 1, "", true),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List:\n got  %+v\n want %+v", got, want)
	}
	if _, err := List(filepath.Join(dir, "missing")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("List of a missing dir: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
