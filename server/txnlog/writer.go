// Package txnlog reads and writes zkd's write-ahead transaction log in
// Apache ZooKeeper 3.8's on-disk format (FileTxnLog), so a data directory
// can move between zkd and ZooKeeper in either direction.
//
// A log directory holds files named log.<hex zxid of the first txn>. Each
// starts with a 16-byte FileHeader ("ZKLG", version 2, dbid 0) followed by
// records
//
//	int64 checksum | int32 len | payload (len bytes) | 0x42
//
// where checksum is the Adler-32 of the payload alone and payload is
// TxnHeader + txn body + optional TxnDigest (proto.EncodeTxn). Files are
// preallocated ahead of the writes (FilePadding), so the bytes after the
// last record are zeros, which readers take as the end of the file.
package txnlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// File-format constants (FileTxnLog, FilePadding, BufferedOutputStream).
const (
	logMagic       = 0x5A4B4C47 // "ZKLG"
	logVersion     = 2
	headerSize     = 16
	endOfRecord    = 0x42 // 'B'
	recordOverhead = 8 + 4 + 1
	// padWindow: FilePadding extends the file once the write position is
	// within this many bytes of its preallocated end.
	padWindow = 4096
	// javaBufferSize is BufferedOutputStream's default buffer. ZooKeeper
	// pads against FileChannel.position(), which only counts bytes the
	// buffer has handed to the OS; mimicking the buffer makes preallocation
	// happen at exactly the same appends as in ZooKeeper.
	javaBufferSize = 8192
	// logPrefix is the file-name prefix of txn logs.
	logPrefix = "log"
	// zeroFillChunk is how far Commit zero-fills the preallocated file
	// ahead of the last record (see zeroAhead); it refills once less than
	// half of it is left.
	zeroFillChunk = 1 << 20
)

// zeros is the source of zeroAhead's writes; it is never written to.
var zeros [zeroFillChunk]byte

// DefaultPreAllocSize is ZooKeeper's default zookeeper.preAllocSize (64 MiB).
const DefaultPreAllocSize = 64 << 20

// Options configure a Writer.
type Options struct {
	Dir                   string        // the version-2 directory holding log.<hex zxid> files (created if missing)
	PreAllocSize          int64         // bytes (ZooKeeper: 64 MiB); <= 0 disables preallocation
	ForceSync             bool          // fsync on Commit (zoo.cfg forceSync)
	FsyncWarningThreshold time.Duration // slower fsyncs log a warning and count zkd_txnlog_slow_fsyncs_total; <= 0 means 1s
	Logger                zerolog.Logger
	Metrics               *Metrics // nil records nothing
	// MaxRecord bounds one record's payload; Append refuses larger txns
	// because no reader (zkd's or ZooKeeper's) would load them back
	// (ZOOKEEPER-3496). Default 2*jute.maxbuffer, the readers' default.
	MaxRecord int

	fs  fileSystem       // tests inject failures here; nil means the OS
	now func() time.Time // tests control fsync timing here; nil means time.Now
}

// Writer appends txns to the log. Append only buffers; Commit is the
// group-commit point that makes everything appended so far durable. A
// failed Append or Commit leaves the writer refusing further writes until
// Rollback has removed every uncommitted byte from the file. A Writer is
// not safe for concurrent use.
type Writer struct {
	opts      Options
	fs        fileSystem
	now       func() time.Time
	maxRecord int
	enc       *jute.Encoder

	cur *segment
	// failure is the error that left uncommitted bytes of unknown shape
	// in cur; only Rollback clears it.
	failure error
	// lastZxid is the zxid of the last appended txn; committedZxid the
	// last one made durable.
	lastZxid, committedZxid int64
}

// segment is the open log file.
type segment struct {
	f    logFile
	path string
	// buf holds bytes not yet handed to the OS (Java's BufferedOutputStream).
	buf []byte
	// pos is the number of bytes handed to the OS: FileChannel.position().
	pos int64
	// size is FilePadding.currentSize: the preallocated length.
	size int64
	// committedEnd is the end of the last committed record (0 when no
	// Commit has covered this file yet) and committedSize the preallocated
	// length at that moment: Rollback restores both.
	committedEnd, committedSize int64
	// zeroed is the end of the range that holds written bytes (records,
	// or zeros from zeroAhead) rather than holes.
	zeroed int64
	// pending counts records appended since the last Commit.
	pending int
	// dirSynced records that the file's directory entry is durable.
	dirSynced bool
	// needPad is set when Rollback could not re-extend the file to size.
	needPad bool
}

// OpenWriter prepares a writer on opts.Dir. Like ZooKeeper's FileTxnLog it
// never appends to an existing file: the first Append creates
// log.<zxid of that txn>.
func OpenWriter(opts Options) (*Writer, error) {
	if opts.Dir == "" {
		return nil, errors.New("txnlog: Options.Dir is empty")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("txnlog: creating log directory: %w", err)
	}
	files, err := Files(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.FsyncWarningThreshold <= 0 {
		opts.FsyncWarningThreshold = time.Second
	}
	w := &Writer{opts: opts, fs: opts.fs, now: opts.now, maxRecord: opts.MaxRecord, enc: jute.NewEncoder(nil)}
	if w.fs == nil {
		w.fs = osFS{}
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.maxRecord <= 0 {
		w.maxRecord = defaultMaxRecord
	}
	opts.Metrics.setFiles(len(files))
	return w, nil
}

// LogName returns ZooKeeper's file name for a log whose first txn is zxid:
// "log." + Long.toHexString(zxid).
func LogName(zxid int64) string {
	return logPrefix + "." + strconv.FormatUint(uint64(zxid), 16)
}

// CurrentFile returns the path of the file being appended to, or "" when
// the next Append will start a new file.
func (w *Writer) CurrentFile() string {
	if w.cur == nil {
		return ""
	}
	return w.cur.path
}

// Append encodes one txn and adds it to the log buffer, creating the file
// and preallocating space as ZooKeeper does first. Bytes may reach the OS
// (when the buffer fills) but are durable only after Commit. On error the
// writer needs Rollback, which drops every txn appended since the last
// Commit.
func (w *Writer) Append(hdr *proto.TxnHeader, txn proto.Txn, digest *proto.TxnDigest) error {
	if w.failure != nil {
		return fmt.Errorf("txnlog: append refused until Rollback after: %w", w.failure)
	}
	if hdr == nil {
		return errors.New("txnlog: append: nil txn header")
	}
	w.enc.Reset()
	proto.EncodeTxn(w.enc, hdr, txn, digest)
	payload := w.enc.Bytes()
	if len(payload) > w.maxRecord {
		return fmt.Errorf("txnlog: append zxid 0x%x: record of %d bytes exceeds the %d-byte limit readers accept", hdr.Zxid, len(payload), w.maxRecord)
	}
	if hdr.Zxid <= w.lastZxid {
		// ZooKeeper warns too; the log stays readable but Truncate and
		// NewIterator assume increasing zxids.
		w.opts.Logger.Warn().Str("zxid", fmt.Sprintf("0x%x", hdr.Zxid)).Str("last_zxid", fmt.Sprintf("0x%x", w.lastZxid)).
			Msg("txn log: current zxid is <= the last one appended")
	}
	if w.cur == nil {
		if err := w.create(hdr.Zxid); err != nil {
			return err
		}
	}
	s := w.cur
	if err := w.pad(s); err != nil {
		return w.fail(opPreallocate, err)
	}
	// The same sequence of writes as FileTxnLog.append through
	// DataOutputStream: writeLong(crc), writeInt(len) (four single bytes),
	// write(payload), writeByte('B').
	var crc [8]byte
	binary.BigEndian.PutUint64(crc[:], uint64(adler32.Checksum(payload)))
	if err := w.write(s, crc[:]); err != nil {
		return w.fail(opWrite, err)
	}
	n := uint32(len(payload))
	for _, b := range []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} {
		if err := w.writeByte(s, b); err != nil {
			return w.fail(opWrite, err)
		}
	}
	if err := w.write(s, payload); err != nil {
		return w.fail(opWrite, err)
	}
	if err := w.writeByte(s, endOfRecord); err != nil {
		return w.fail(opWrite, err)
	}
	s.pending++
	w.lastZxid = hdr.Zxid
	return nil
}

// create starts log.<zxid>: header written and flushed, size = 16.
func (w *Writer) create(zxid int64) error {
	path := filepath.Join(w.opts.Dir, LogName(zxid))
	f, err := w.fs.Create(path)
	if errors.Is(err, os.ErrExist) && !hasRecords(path) {
		// Left by a crash between creating the file and the first
		// commit: nothing in it was ever acknowledged.
		w.opts.Logger.Warn().Str("file", path).Msg("txn log: replacing an existing log file that holds no complete record")
		if rerr := w.fs.Remove(path); rerr == nil {
			w.opts.Metrics.addFiles(-1)
			f, err = w.fs.Create(path)
		}
	}
	if err != nil {
		w.opts.Metrics.failed(opCreate)
		return fmt.Errorf("txnlog: creating %s: %w", path, osErr(err))
	}
	w.opts.Metrics.addFiles(1)
	s := &segment{f: f, path: path, buf: make([]byte, 0, javaBufferSize)}
	var hdr [headerSize]byte
	binary.BigEndian.PutUint32(hdr[0:], logMagic)
	binary.BigEndian.PutUint32(hdr[4:], logVersion)
	// dbid stays 0: FileTxnLog never sets it.
	s.buf = append(s.buf, hdr[:]...)
	if err := w.flush(s); err != nil {
		// Nothing was committed: remove the file rather than leave a
		// partial header, which stops ZooKeeper 3.8 from starting
		// (ZOOKEEPER-1621).
		w.opts.Metrics.failed(opCreate)
		_ = s.f.Close()
		if rerr := w.fs.Remove(path); rerr == nil {
			w.opts.Metrics.addFiles(-1)
		}
		return fmt.Errorf("txnlog: writing header: %w", err)
	}
	s.size = s.pos
	w.cur = s
	return nil
}

// padSize is FilePadding.calculateFileSizeWithPadding.
func padSize(position, size, preAlloc int64) int64 {
	if preAlloc > 0 && position+padWindow >= size {
		if position > size {
			// ZOOKEEPER-2249: a record larger than preAllocSize took
			// the position past the preallocated end.
			size = position + preAlloc
			size -= size % preAlloc
		} else {
			size += preAlloc
		}
	}
	return size
}

// pad is FilePadding.padFile: extend the file by writing one zero byte at
// the new end, which leaves a sparse run of zeros before it.
func (w *Writer) pad(s *segment) error {
	if s.needPad {
		if err := writeFull(s, []byte{0}, s.size-1); err != nil {
			return err
		}
		s.needPad = false
	}
	newSize := padSize(s.pos, s.size, w.opts.PreAllocSize)
	if newSize == s.size {
		return nil
	}
	if err := writeFull(s, []byte{0}, newSize-1); err != nil {
		return err
	}
	w.opts.Metrics.preallocated(newSize - s.size)
	s.size = newSize
	return nil
}

// zeroAhead writes zeros over the hole FilePadding left after the last
// record, up to zeroFillChunk ahead, so that the next Commits overwrite
// blocks the file already has. ZooKeeper's one-byte padding leaves the
// preallocated range sparse: every fdatasync then has to make the new
// blocks' allocation durable too (on ext4 an inode and extent write, or a
// journal commit, waited for before the flush), which costs a disk round
// trip per Commit. With the range written, an fdatasync writes the data
// and flushes, and only the Commit that zero-fills pays for allocation.
// The file's bytes are the same either way: the hole read as zeros.
func (w *Writer) zeroAhead(s *segment) error {
	if s.zeroed-s.pos >= zeroFillChunk/2 {
		return nil
	}
	start := max(s.zeroed, s.pos)
	end := min(s.size, start+zeroFillChunk)
	if end <= start {
		return nil
	}
	if err := writeFull(s, zeros[:end-start], start); err != nil {
		return err
	}
	w.opts.Metrics.zeroFilled(end - start)
	s.zeroed = end
	return nil
}

// write is BufferedOutputStream.write(byte[]).
func (w *Writer) write(s *segment, p []byte) error {
	if len(p) >= javaBufferSize {
		if err := w.flush(s); err != nil {
			return err
		}
		if err := writeFull(s, p, s.pos); err != nil {
			return err
		}
		s.pos += int64(len(p))
		return nil
	}
	if len(p) > javaBufferSize-len(s.buf) {
		if err := w.flush(s); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, p...)
	return nil
}

// writeByte is BufferedOutputStream.write(int).
func (w *Writer) writeByte(s *segment, b byte) error {
	if len(s.buf) >= javaBufferSize {
		if err := w.flush(s); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, b)
	return nil
}

// flush hands the buffer to the OS at the current position.
func (w *Writer) flush(s *segment) error {
	if len(s.buf) == 0 {
		return nil
	}
	if err := writeFull(s, s.buf, s.pos); err != nil {
		return err
	}
	s.pos += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

func writeFull(s *segment, p []byte, off int64) error {
	n, err := s.f.WriteAt(p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("writing %s at offset %d: %w", s.path, off+int64(n), osErr(err))
	}
	return nil
}

// fail records a write failure: the file now holds bytes of unknown shape
// after the last committed record, so nothing more may be written until
// Rollback.
func (w *Writer) fail(op string, err error) error {
	w.opts.Metrics.failed(op)
	err = fmt.Errorf("txnlog: %s: %w", op, err)
	w.failure = err
	return err
}

// Commit hands every buffered byte to the OS and, with ForceSync, waits
// until it is on disk (fdatasync): the group-commit boundary. Without
// ForceSync it only flushes, as ZooKeeper's forceSync=no. On error the
// writer needs Rollback; none of the txns since the last Commit may be
// acknowledged.
func (w *Writer) Commit() error {
	if w.failure != nil {
		return fmt.Errorf("txnlog: commit refused until Rollback after: %w", w.failure)
	}
	s := w.cur
	if s == nil {
		return nil
	}
	if err := w.flush(s); err != nil {
		return w.fail(opWrite, err)
	}
	if w.opts.ForceSync {
		if err := w.zeroAhead(s); err != nil {
			return w.fail(opPreallocate, err)
		}
		if !s.dirSynced {
			// A new file's directory entry must be durable too, or a crash
			// could lose the whole file with its acknowledged txns.
			if err := w.fs.SyncDir(w.opts.Dir); err != nil {
				return w.fail(opFsync, fmt.Errorf("syncing directory %s: %w", w.opts.Dir, osErr(err)))
			}
			s.dirSynced = true
		}
		start := w.now()
		if err := s.f.Sync(); err != nil {
			return w.fail(opFsync, fmt.Errorf("fsync %s: %w", s.path, osErr(err)))
		}
		took := w.now().Sub(start)
		w.opts.Metrics.fsynced(took.Seconds(), s.pending)
		if took > w.opts.FsyncWarningThreshold {
			w.opts.Metrics.slowFsync()
			size := max(s.size, s.pos)
			w.opts.Logger.Warn().Str("file", s.path).Int64("file_size", size).Dur("took", took).
				Msgf("fsync-ing the write ahead log %s took %dms which will adversely effect operation latency. File size is %d bytes. See the ZooKeeper troubleshooting guide",
					s.path, took.Milliseconds(), size)
		}
	}
	start := s.committedEnd
	if start == 0 {
		start = headerSize
	}
	w.opts.Metrics.committed(s.pending, s.pos-start)
	s.committedEnd = s.pos
	s.committedSize = s.size
	s.pending = 0
	w.committedZxid = w.lastZxid
	return nil
}

// Rollback discards every txn appended since the last Commit, whether or
// not an error occurred: the file is cut back to the end of the last
// committed record (ftruncate), then re-extended to its committed
// preallocated size with zeros, and synced, so neither a reader nor a
// crash can see a half-written or unacknowledged record. A file that no
// Commit has covered yet is removed. After a nil return the writer is
// usable again; after an error Rollback may be retried.
func (w *Writer) Rollback() error {
	s := w.cur
	if s == nil {
		w.failure = nil
		w.lastZxid = w.committedZxid
		return nil
	}
	s.buf = s.buf[:0]
	s.pending = 0
	if s.committedEnd == 0 {
		cerr := s.f.Close()
		if err := w.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("txnlog: rollback: removing uncommitted %s: %w", s.path, errors.Join(osErr(err), cerr))
		}
		w.opts.Metrics.addFiles(-1)
		w.cur = nil
		w.failure = nil
		w.lastZxid = w.committedZxid
		return nil
	}
	if err := s.f.Truncate(s.committedEnd); err != nil {
		return fmt.Errorf("txnlog: rollback: truncating %s to %d: %w", s.path, s.committedEnd, osErr(err))
	}
	s.pos = s.committedEnd
	s.size = s.committedSize
	s.zeroed = s.committedEnd
	s.needPad = false
	if s.committedSize > s.committedEnd {
		if err := writeFull(s, []byte{0}, s.committedSize-1); err != nil {
			// The file is already safe (it ends at the last committed
			// record); the next pad retries the extension.
			s.needPad = true
		}
	}
	if w.opts.ForceSync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("txnlog: rollback: fsync %s: %w", s.path, osErr(err))
		}
	}
	w.failure = nil
	w.lastZxid = w.committedZxid
	return nil
}

// Roll commits, closes the current file, and makes the next Append start
// a new log.<zxid> file (ZooKeeper's rollLog).
func (w *Writer) Roll() error {
	if w.cur == nil {
		return nil
	}
	if err := w.Commit(); err != nil {
		return err
	}
	s := w.cur
	w.cur = nil
	w.opts.Metrics.rolled()
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("txnlog: closing %s: %w", s.path, osErr(err))
	}
	return nil
}

// Close commits what was appended (unless a failure awaits Rollback, in
// which case the uncommitted bytes are rolled back first) and closes the
// file.
func (w *Writer) Close() error {
	s := w.cur
	if s == nil {
		return nil
	}
	var err error
	if w.failure != nil {
		err = w.Rollback()
	} else {
		err = w.Commit()
	}
	if w.cur != nil {
		w.cur = nil
		if cerr := s.f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("txnlog: closing %s: %w", s.path, osErr(cerr)))
		}
	}
	return err
}

// hasRecords reports whether a log file may hold a committed record: it
// does unless it reads as empty or is shorter than its header.
func hasRecords(path string) bool {
	if st, err := os.Stat(path); err == nil && st.Size() < headerSize {
		return false
	}
	it, err := NewFileIterator(path, ReadOptions{})
	if err != nil {
		return true // unknown: be safe
	}
	defer it.Close()
	_, err = it.Next()
	return !errors.Is(err, io.EOF)
}
