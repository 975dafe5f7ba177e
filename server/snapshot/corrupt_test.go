package snapshot

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/datatree"
)

// snapshotBytes returns the uncompressed snapshot of buildTree.
func snapshotBytes(t testing.TB, tree *datatree.Tree) []byte {
	t.Helper()
	var buf bytes.Buffer
	d := &ZxidDigest{Zxid: tree.LastProcessedZxid(), Version: DigestVersion, Digest: tree.Digest()}
	if err := Write(&buf, tree, []Session{{ID: sess1, TimeoutMs: 6000}}, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCorruption(t *testing.T) {
	good := snapshotBytes(t, buildTree(t))
	n := len(good)
	seal1 := n - 13 - 20 - 13 // seal #2 (13) | digest (20) | seal #1 (13)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name    string
		input   []byte
		wantErr string // substring of the error
		check   func(t *testing.T, s *Snapshot)
	}{
		{name: "flipped byte in the middle", wantErr: "seal #1",
			input: mutate(func(b []byte) []byte { b[n/2] ^= 0x01; return b })},
		{name: "flipped digest byte", wantErr: "seal #2",
			input: mutate(func(b []byte) []byte { b[seal1+13+19] ^= 0x80; return b })},
		{name: "flipped seal", wantErr: "(seal #1): checksum mismatch",
			input: mutate(func(b []byte) []byte { b[seal1+7] ^= 0x01; return b })},
		{name: "truncated in the nodes", wantErr: "unexpected EOF", input: good[:n/2]},
		{name: "truncated in seal #1", wantErr: "seal #1", input: good[:seal1+6]},
		{name: "empty", wantErr: "file header", input: nil},
		{name: "bad magic", wantErr: "magic",
			input: mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{name: "huge string length", wantErr: "unreasonable length",
			// The first ACL's scheme length (after header, 1 session,
			// ACL count, id, vector count, perms).
			input: mutate(func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[16+4+12+4+8+4+4:], 0x7ffffff0)
				return b
			})},
		{name: "negative session count", wantErr: "negative count",
			input: mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[16:], 0xfffffff0); return b })},
		// Older snapshots end after seal #1; a stream cut inside the digest
		// record reads as such, as ZooKeeper maps EOFException to "no
		// digest".
		{name: "no digest record", input: good[:seal1+13],
			check: func(t *testing.T, s *Snapshot) {
				if s.Digest != nil {
					t.Errorf("digest %+v, want none", s.Digest)
				}
			}},
		{name: "partial digest record", input: good[:seal1+13+7]},
		// ZooKeeper 3.9 appends the last zxid and a third seal.
		{name: "3.9 trailer", input: append(bytes.Clone(good), 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, '/'),
			check: func(t *testing.T, s *Snapshot) {
				if s.Digest == nil {
					t.Error("digest record lost")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Read(bytes.NewReader(tt.input), datatree.Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *CorruptError", err)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Errorf("error %q does not name the offset", err)
			}
		})
	}
}

// TestSealOffset checks that a seal mismatch names the seal's offset and
// wraps ErrChecksum.
func TestSealOffset(t *testing.T) {
	b := snapshotBytes(t, datatree.New())
	seal1 := len(b) - 13 - 20 - 13
	b[20] ^= 0xff // inside the ACL cache
	_, err := Read(bytes.NewReader(b), datatree.Options{})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != int64(seal1) || !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v, want a checksum error at offset %d", err, seal1)
	}
}

// TestLegacyDigest reads a digest record of version 1, where the digest is
// a hex string (DataTree.ZxidDigest.deserialize).
func TestLegacyDigest(t *testing.T) {
	var buf bytes.Buffer
	d := &ZxidDigest{Zxid: 7, Version: 1, Digest: 0xabcdef}
	if err := Write(&buf, datatree.New(), nil, d); err != nil {
		t.Fatal(err)
	}
	s, err := Read(&buf, datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Digest, d) {
		t.Errorf("digest %+v, want %+v", s.Digest, d)
	}
}

func TestCompressedCorruption(t *testing.T) {
	tree := buildTree(t)
	for _, method := range []string{MethodGzip, MethodSnappy} {
		dir := t.TempDir()
		path, err := WriteFile(dir, 5, tree, nil, method, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string][]byte{
			"truncated":   b[:len(b)/2],
			"bad header":  append([]byte{0, 0}, b[2:]...),
			"header only": b[:16],
		} {
			p := filepath.Join(dir, "snapshot.6."+method)
			if err := os.WriteFile(p, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadFile(p, datatree.Options{}); err == nil {
				t.Errorf("%s %s: no error", method, name)
			}
		}
	}
}

// TestSnappyStream checks the snappy-java stream layout and its reader
// against hand-made streams: concatenated streams, and the end of input
// inside a block length.
func TestSnappyStream(t *testing.T) {
	payload := bytes.Repeat([]byte("zkd snapshot "), 10000) // > 3 blocks
	var buf bytes.Buffer
	w := newSnappyWriter(&buf)
	if _, err := w.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if want := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}; !bytes.Equal(b[:16], want) {
		t.Fatalf("header % x, want % x", b[:16], want)
	}
	blocks := 0
	for off := 16; off < len(b); blocks++ {
		off += 4 + int(binary.BigEndian.Uint32(b[off:]))
	}
	if want := (len(payload) + snappyBlockSize - 1) / snappyBlockSize; blocks != want {
		t.Errorf("%d blocks, want %d", blocks, want)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want []byte
	}{
		"one stream":       {b, payload},
		"concatenated":     {append(bytes.Clone(b), b...), append(bytes.Clone(payload), payload...)},
		"stray tail bytes": {append(bytes.Clone(b), 0, 0), payload},
	} {
		r, err := newSnappyReader(bytes.NewReader(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: read %d bytes, %v; want %d", name, len(got), err, len(tc.want))
		}
	}
	bad := bytes.Clone(b)
	binary.BigEndian.PutUint32(bad[16:], 0x7fffffff)
	r, _ := newSnappyReader(bytes.NewReader(bad))
	if _, err := io.ReadAll(r); err == nil {
		t.Error("huge block length: no error")
	}
}

// TestGzipChecksumUncompressed checks that the seals of a .gz snapshot are
// over the uncompressed stream: its content is exactly Write's output.
func TestGzipChecksumUncompressed(t *testing.T) {
	tree := buildTree(t)
	path, err := WriteFile(t.TempDir(), tree.LastProcessedZxid(), tree, []Session{{ID: sess1, TimeoutMs: 6000}}, MethodGzip, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := snapshotBytes(t, tree); !bytes.Equal(got, want) {
		t.Fatal("gzip content differs from the plain stream")
	}
	seal1 := len(got) - 13 - 20 - 13
	if sum := int64(binary.BigEndian.Uint64(got[seal1:])); sum != int64(adler32.Checksum(got[:seal1])) {
		t.Errorf("seal #1 %#x, Adler32 of the uncompressed prefix %#x", sum, adler32.Checksum(got[:seal1]))
	}
	seal2 := len(got) - 13
	if sum := int64(binary.BigEndian.Uint64(got[seal2:])); sum != int64(adler32.Checksum(got[:seal2])) {
		t.Errorf("seal #2 %#x, Adler32 of everything before it %#x", sum, adler32.Checksum(got[:seal2]))
	}
}

func FuzzRead(f *testing.F) {
	f.Add(snapshotBytes(f, datatree.New()))
	var buf bytes.Buffer
	if err := Write(&buf, datatree.New(), []Session{{ID: 1, TimeoutMs: 2}}, nil); err == nil {
		f.Add(buf.Bytes())
	}
	if b, err := os.ReadFile(filepath.Join(apacheTestdata, "data_buffersize_create_version-2_snapshot.0")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Read(bytes.NewReader(b), datatree.Options{})
		if err == nil && s.Tree == nil {
			t.Fatal("no error and no tree")
		}
		if r, err := newSnappyReader(bytes.NewReader(b)); err == nil {
			io.Copy(io.Discard, r)
		}
	})
}
