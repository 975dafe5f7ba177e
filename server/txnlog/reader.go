package txnlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// defaultMaxRecord is jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize
// at their defaults: the largest record ZooKeeper reads back.
const defaultMaxRecord = 2 * jute.DefaultMaxBuffer

// File is one txn log file.
type File struct {
	Path      string
	StartZxid int64 // from the name: the zxid of its first txn
}

// Files lists the log.* files of dir sorted by start zxid. Like ZooKeeper
// (Util.getZxidFromName) a name counts when its second dot-separated part
// parses as a hex long, so log.X.fixed or log.X.chopped<z> left in the
// directory are read as logs starting at X; anything else is ignored.
func Files(dir string) ([]File, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("txnlog: listing %s: %w", dir, err)
	}
	var files []File
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		zxid, ok := zxidFromName(de.Name())
		if !ok {
			continue
		}
		files = append(files, File{Path: filepath.Join(dir, de.Name()), StartZxid: zxid})
	}
	slices.SortFunc(files, func(a, b File) int {
		if a.StartZxid != b.StartZxid {
			if a.StartZxid < b.StartZxid {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	return files, nil
}

// zxidFromName is Util.getZxidFromName for the "log" prefix; negative
// values are -1 in ZooKeeper's hands and so are excluded by getLogFiles.
func zxidFromName(name string) (int64, bool) {
	parts := strings.Split(name, ".")
	if len(parts) < 2 || parts[0] != logPrefix {
		return 0, false
	}
	// Long.parseLong(s, 16) accepts a sign, as ParseInt does.
	z, err := strconv.ParseInt(parts[1], 16, 64)
	if err != nil || z < 0 {
		return 0, false
	}
	return z, true
}

// selectFiles is FileTxnIterator.init: every file starting at or after
// zxid, plus the newest one starting before it (which may hold zxid).
func selectFiles(files []File, zxid int64) []File {
	start := len(files)
	for i := len(files) - 1; i >= 0; i-- {
		start = i
		if files[i].StartZxid < zxid {
			break
		}
	}
	return files[start:]
}

// Entry is one decoded log record.
type Entry struct {
	Hdr        proto.TxnHeader
	Txn        proto.Txn
	Digest     *proto.TxnDigest // nil when the record has none
	File       string
	Offset     int64 // byte offset of the record's checksum in File
	Size       int64 // of the whole record: checksum, length, payload, 0x42
	Checksum   uint64
	ChecksumOK bool
}

// ReadOptions tune an Iterator.
type ReadOptions struct {
	// ContinueOnChecksumError returns records whose checksum does not match
	// (with ChecksumOK false) instead of stopping, for logdump --verify.
	ContinueOnChecksumError bool
	// MaxRecord is the largest payload accepted; default 2*jute.maxbuffer.
	MaxRecord int
}

// TornTail is a partial last record: the end of that file's log. It is
// what a crash during a write leaves, and safe to cut at Offset.
type TornTail struct {
	File   string
	Offset int64 // of the partial record: the end of the complete ones
	Reason string
}

// Corruption kinds.
const (
	KindChecksum = "checksum"
	KindLength   = "length"
	KindMagic    = "magic"
	KindDecode   = "decode"
)

// CorruptError reports a log that ZooKeeper would refuse to load.
type CorruptError struct {
	File         string
	Offset       int64 // of the bad record (or 0 for the header)
	LastGoodZxid int64 // of the last valid record read before it; 0 if none
	Kind         string
	Err          error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("txnlog: corrupt log %s at offset %d (%s; last good zxid 0x%x): %v", e.File, e.Offset, e.Kind, e.LastGoodZxid, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// errEndOfFile ends one file; the iterator goes on with the next.
var errEndOfFile = errors.New("end of log file")

// Iterator reads records in order across log files. It takes no locks and
// only reads, so it is safe on a live server's directory; the end of each
// file is fixed when the file is opened.
type Iterator struct {
	files     []File
	fromZxid  int64
	opts      ReadOptions
	maxRecord int

	src      io.Closer // the open file, nil between files
	r        *bufio.Reader
	path     string
	off      int64 // of the next unread byte
	fileSize int64

	torn     []TornTail
	lastGood int64
	err      error
}

// NewIterator reads dir from fromZxid on, choosing files as ZooKeeper's
// FileTxnIterator: every file starting at or after fromZxid plus the newest
// one starting before it. Entries below fromZxid are skipped.
func NewIterator(dir string, fromZxid int64, opts ReadOptions) (*Iterator, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	return newIterator(selectFiles(files, fromZxid), fromZxid, opts), nil
}

// NewFileIterator reads one file, whatever its name.
func NewFileIterator(path string, opts ReadOptions) (*Iterator, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("txnlog: %w", err)
	}
	return newIterator([]File{{Path: path}}, 0, opts), nil
}

func newIterator(files []File, fromZxid int64, opts ReadOptions) *Iterator {
	it := &Iterator{files: files, fromZxid: fromZxid, opts: opts, maxRecord: opts.MaxRecord}
	if it.maxRecord <= 0 {
		it.maxRecord = defaultMaxRecord
	}
	return it
}

// Next returns the next record, io.EOF after the last one, or a
// *CorruptError. A torn last record ends its file silently (see TornTails)
// and reading continues with the next file, as in ZooKeeper. Errors are
// sticky.
func (it *Iterator) Next() (*Entry, error) {
	for it.err == nil {
		if it.src == nil {
			if len(it.files) == 0 {
				return nil, io.EOF
			}
			next := it.files[0]
			it.files = it.files[1:]
			if err := it.open(next.Path); err != nil {
				it.err = err
				break
			}
		}
		e, err := it.readRecord()
		if err == errEndOfFile {
			it.closeFile()
			continue
		}
		if err != nil {
			it.err = err
			break
		}
		if e.Hdr.Zxid < it.fromZxid {
			continue
		}
		return e, nil
	}
	return nil, it.err
}

// TornTails returns the partial last records met so far.
func (it *Iterator) TornTails() []TornTail { return it.torn }

// Close releases the open file.
func (it *Iterator) Close() error {
	it.files = nil
	if it.src == nil {
		return nil
	}
	err := it.src.Close()
	it.src, it.r = nil, nil
	return err
}

func (it *Iterator) closeFile() {
	_ = it.src.Close()
	it.src, it.r = nil, nil
}

// open checks the file header: ZooKeeper refuses a bad magic and, in 3.8,
// a file too short for its header.
func (it *Iterator) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("txnlog: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("txnlog: %w", err)
	}
	return it.start(path, f, st.Size())
}

// start reads the header of a log of size bytes from src.
func (it *Iterator) start(path string, src io.ReadCloser, size int64) error {
	it.src, it.path, it.fileSize, it.off = src, path, size, 0
	it.r = bufio.NewReaderSize(src, 64<<10)
	var hdr [headerSize]byte
	n, err := io.ReadFull(it.r, hdr[:])
	it.off += int64(n)
	if err != nil {
		it.closeFile()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return it.corrupt(0, KindMagic, fmt.Errorf("file of %d bytes is too short for the %d-byte header", n, headerSize))
		}
		return fmt.Errorf("txnlog: reading header of %s: %w", path, err)
	}
	if magic := binary.BigEndian.Uint32(hdr[:4]); magic != logMagic {
		it.closeFile()
		return it.corrupt(0, KindMagic, fmt.Errorf("invalid magic number 0x%08x, want 0x%08x (ZKLG)", magic, logMagic))
	}
	return nil
}

func (it *Iterator) corrupt(off int64, kind string, err error) *CorruptError {
	return &CorruptError{File: it.path, Offset: off, LastGoodZxid: it.lastGood, Kind: kind, Err: err}
}

func (it *Iterator) tornTail(off int64, format string, args ...any) error {
	it.torn = append(it.torn, TornTail{File: it.path, Offset: off, Reason: fmt.Sprintf(format, args...)})
	return errEndOfFile
}

// readRecord follows FileTxnIterator.next and Util.readTxnBytes.
func (it *Iterator) readRecord() (*Entry, error) {
	start := it.off
	var head [12]byte
	n, err := io.ReadFull(it.r, head[:])
	it.off += int64(n)
	switch {
	case err == io.EOF:
		return nil, errEndOfFile
	case err == io.ErrUnexpectedEOF:
		return nil, it.tornTail(start, "file ends %d bytes into a record's checksum and length", n)
	case err != nil:
		return nil, fmt.Errorf("txnlog: reading %s at offset %d: %w", it.path, it.off, err)
	}
	crc := binary.BigEndian.Uint64(head[:8])
	length := int32(binary.BigEndian.Uint32(head[8:]))
	if length == 0 || length == -1 {
		// Preallocated zeros (or a null buffer): the end of this file.
		if crc != 0 {
			return nil, it.tornTail(start, "checksum 0x%x followed by a zero length", crc)
		}
		return nil, errEndOfFile
	}
	if length < 0 || int(length) > it.maxRecord {
		return nil, it.corrupt(start, KindLength, fmt.Errorf("unreasonable record length %d (limit %d)", length, it.maxRecord))
	}
	// Bound the allocation by what the file holds.
	if left := it.fileSize - it.off; int64(length)+1 > left {
		return nil, it.tornTail(start, "record of %d bytes but the file ends %d bytes after its length", length, max(left, 0))
	}
	payload := make([]byte, length)
	n, err = io.ReadFull(it.r, payload)
	it.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, it.tornTail(start, "file ends %d bytes into a %d-byte payload", n, length)
	} else if err != nil {
		return nil, fmt.Errorf("txnlog: reading %s at offset %d: %w", it.path, it.off, err)
	}
	eor, err := it.r.ReadByte()
	if err == io.EOF {
		return nil, it.tornTail(start, "file ends before the end-of-record marker")
	} else if err != nil {
		return nil, fmt.Errorf("txnlog: reading %s at offset %d: %w", it.path, it.off, err)
	}
	it.off++
	if eor != endOfRecord {
		// ZooKeeper: "Last transaction was partial."
		return nil, it.tornTail(start, "end-of-record byte is 0x%02x, not 0x42: last transaction was partial", eor)
	}
	sum := uint64(adler32.Checksum(payload))
	e := &Entry{File: it.path, Offset: start, Size: it.off - start, Checksum: crc, ChecksumOK: sum == crc}
	if !e.ChecksumOK && !it.opts.ContinueOnChecksumError {
		return nil, it.corrupt(start, KindChecksum, fmt.Errorf("CRC check failed: stored 0x%x, computed 0x%x", crc, sum))
	}
	hdr, txn, digest, err := proto.DecodeTxn(payload, it.maxRecord)
	if err != nil {
		return nil, it.corrupt(start, KindDecode, err)
	}
	if hdr.Zxid < 0 {
		// No log holds a negative zxid: this is damage, and reporting it
		// keeps the zxid range filter in Next from dropping it unseen.
		return nil, it.corrupt(start, KindDecode, fmt.Errorf("negative zxid 0x%x", uint64(hdr.Zxid)))
	}
	e.Hdr, e.Txn, e.Digest = hdr, txn, digest
	if e.ChecksumOK {
		it.lastGood = hdr.Zxid
	}
	return e, nil
}
