package snapshot

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golang/snappy"
)

// Compression methods, as ZooKeeper's zookeeper.snapshot.compression.method
// names them and as they appear as file name suffixes.
const (
	MethodNone   = ""
	MethodGzip   = "gz"
	MethodSnappy = "snappy"
)

// methodOf returns the compression of a snapshot file from its name, as
// SnapStream.getStreamMode does: the part after the last dot, when it names
// a method; anything else (snapshot.1f) is uncompressed.
func methodOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			switch ext := name[i+1:]; ext {
			case MethodGzip, MethodSnappy:
				return ext
			}
			break
		}
	}
	return MethodNone
}

// newDecompressor wraps r for method.
func newDecompressor(r io.Reader, method string) (io.Reader, error) {
	switch method {
	case MethodNone:
		return r, nil
	case MethodGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("snapshot: gzip: %w", err)
		}
		return zr, nil
	case MethodSnappy:
		return newSnappyReader(r)
	}
	return nil, fmt.Errorf("snapshot: unknown compression method %q", method)
}

// newCompressor wraps w for method; Close flushes the compressed stream
// but does not close w.
func newCompressor(w io.Writer, method string) (io.WriteCloser, error) {
	switch method {
	case MethodNone:
		return nopCloser{w}, nil
	case MethodGzip:
		return gzip.NewWriter(w), nil
	case MethodSnappy:
		return newSnappyWriter(w), nil
	}
	return nil, fmt.Errorf("snapshot: unknown compression method %q (want \"\", %q or %q)", method, MethodGzip, MethodSnappy)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// snappy-java's stream format (SnappyOutputStream, SnappyCodec), which
// ZooKeeper uses for .snappy snapshots. It is not the snappy framing format
// of golang/snappy's NewReader: a 16-byte header, then blocks of
// {int32 BE compressed length, raw snappy block}, each at most 32 KiB
// uncompressed by default.
var snappyMagic = [8]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	snappyHeaderLen = 16
	snappyVersion   = 1 // SnappyCodec.DEFAULT_VERSION
	snappyCompat    = 1 // SnappyCodec.MINIMUM_COMPATIBLE_VERSION
	// snappyBlockSize is SnappyOutputStream.DEFAULT_BLOCK_SIZE.
	snappyBlockSize = 32 << 10
	// snappyMaxBlock bounds a block's compressed and uncompressed size
	// when reading: far above what snappy-java writes (32 KiB blocks), low
	// enough that a corrupt length cannot exhaust memory.
	snappyMaxBlock = 16 << 20
	// snappyMaxRatio bounds uncompressed/compressed size: a snappy copy
	// element of 3 bytes yields at most 64, so no valid block exceeds it.
	snappyMaxRatio = 32
)

// snappyMagicHead is the first four magic bytes read as a block length:
// snappy-java takes it as the start of a concatenated stream.
var snappyMagicHead = int32(binary.BigEndian.Uint32(snappyMagic[:4]))

type snappyWriter struct {
	w      io.Writer
	buf    []byte // pending uncompressed bytes
	out    []byte
	header bool
	err    error
}

func newSnappyWriter(w io.Writer) *snappyWriter {
	return &snappyWriter{w: w, buf: make([]byte, 0, snappyBlockSize)}
}

func (s *snappyWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && s.err == nil {
		k := min(len(p), snappyBlockSize-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(s.buf) == snappyBlockSize {
			s.flushBlock()
		}
	}
	return n, s.err
}

func (s *snappyWriter) writeHeader() {
	if s.header || s.err != nil {
		return
	}
	s.header = true
	var h [snappyHeaderLen]byte
	copy(h[:], snappyMagic[:])
	binary.BigEndian.PutUint32(h[8:], snappyVersion)
	binary.BigEndian.PutUint32(h[12:], snappyCompat)
	_, s.err = s.w.Write(h[:])
}

func (s *snappyWriter) flushBlock() {
	s.writeHeader()
	if len(s.buf) == 0 || s.err != nil {
		return
	}
	s.out = snappy.Encode(s.out[:cap(s.out)], s.buf)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(s.out)))
	if _, s.err = s.w.Write(l[:]); s.err == nil {
		_, s.err = s.w.Write(s.out)
	}
	s.buf = s.buf[:0]
}

// Close writes the pending block (and the header of an empty stream).
func (s *snappyWriter) Close() error {
	s.flushBlock()
	return s.err
}

type snappyReader struct {
	r     io.Reader
	block []byte // decoded, not yet returned
	dec   []byte // storage for block
	comp  bytes.Buffer
	done  bool
}

func newSnappyReader(r io.Reader) (*snappyReader, error) {
	s := &snappyReader{r: r}
	var h [snappyHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("snapshot: snappy stream header: %w", err)
	}
	if err := checkSnappyHeader(h[:]); err != nil {
		return nil, err
	}
	return s, nil
}

func checkSnappyHeader(h []byte) error {
	if !bytes.Equal(h[:8], snappyMagic[:]) {
		return fmt.Errorf("snapshot: not a snappy-java stream: header % x", h[:8])
	}
	if v := int32(binary.BigEndian.Uint32(h[8:])); v < snappyCompat {
		return fmt.Errorf("snapshot: snappy-java stream version %d is not supported", v)
	}
	return nil
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for len(s.block) == 0 {
		if s.done {
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.block)
	s.block = s.block[n:]
	return n, nil
}

// next decodes the next block (SnappyInputStream.hasNextChunk): fewer than
// four bytes left is the end; a length equal to the magic's head starts a
// concatenated stream.
func (s *snappyReader) next() error {
	var l [4]byte
	if n, err := io.ReadFull(s.r, l[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			s.done = true
			return nil
		}
		return fmt.Errorf("snapshot: snappy: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(l[:]))
	if size == snappyMagicHead {
		h := make([]byte, snappyHeaderLen)
		copy(h, l[:])
		if _, err := io.ReadFull(s.r, h[4:]); err != nil {
			return fmt.Errorf("snapshot: snappy: concatenated stream header: %w", err)
		}
		return checkSnappyHeader(h)
	}
	if size < 0 || size > snappyMaxBlock {
		return fmt.Errorf("snapshot: snappy: invalid block length %d", size)
	}
	// Copy rather than allocate size bytes up front: a corrupt length
	// near the end of a file then costs only what is really there.
	s.comp.Reset()
	if n, err := io.CopyN(&s.comp, s.r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("snapshot: snappy: block of %d bytes, %d present: %w", size, n, err)
	}
	dlen, err := snappy.DecodedLen(s.comp.Bytes())
	if err != nil {
		return fmt.Errorf("snapshot: snappy: %w", err)
	}
	if dlen > snappyMaxBlock || dlen > int(size)*snappyMaxRatio {
		return fmt.Errorf("snapshot: snappy: block of %d bytes claims %d uncompressed", size, dlen)
	}
	s.dec, err = snappy.Decode(s.dec[:cap(s.dec)], s.comp.Bytes())
	if err != nil {
		return fmt.Errorf("snapshot: snappy: %w", err)
	}
	s.block = s.dec
	return nil
}
