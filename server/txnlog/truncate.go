package txnlog

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Truncate implements a follower's TRUNC: keep every record with a zxid <=
// zxid, cut the file holding the first later record right after the kept
// ones (dropping its preallocated padding, as FileTxnLog.truncate's
// setLength does), and delete every later file. A file left without
// records is deleted, so a new log.<zxid+1> can be created; when that
// first later record opens a file, the file before it is cut instead. Files are
// chosen as FileTxnIterator does; the changes are synced.
func Truncate(dir string, zxid int64) error {
	all, err := Files(dir)
	if err != nil {
		return err
	}
	files := selectFiles(all, zxid)
	if len(files) == 0 {
		return fmt.Errorf("txnlog: truncate to zxid 0x%x: no log files found in %s", zxid, dir)
	}
	// prev is the last file seen holding a kept record: when the first
	// later record opens a file, prev is cut instead (its padding goes).
	var prevPath string
	var prevEnd int64
	for i, f := range files {
		keepEnd, later, err := scanFor(f.Path, zxid)
		if err != nil {
			return fmt.Errorf("txnlog: truncate to zxid 0x%x: %w", zxid, err)
		}
		if !later {
			if keepEnd > 0 {
				prevPath, prevEnd = f.Path, keepEnd
			}
			continue
		}
		cutPath, cutEnd, remove := f.Path, keepEnd, files[i+1:]
		if keepEnd == 0 {
			remove = files[i:]
			cutPath, cutEnd = prevPath, prevEnd
		}
		if cutPath != "" {
			if err := cutFile(cutPath, cutEnd); err != nil {
				return fmt.Errorf("txnlog: truncate to zxid 0x%x: %w", zxid, err)
			}
		}
		for _, later := range remove {
			if err := os.Remove(later.Path); err != nil {
				return fmt.Errorf("txnlog: truncate to zxid 0x%x: deleting later log: %w", zxid, err)
			}
		}
		return osFS{}.SyncDir(dir)
	}
	return nil
}

// scanFor returns the end of the last record with a zxid <= zxid in path
// (0 if none) and whether a later record follows it.
func scanFor(path string, zxid int64) (keepEnd int64, later bool, err error) {
	it, err := NewFileIterator(path, ReadOptions{})
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return keepEnd, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if e.Hdr.Zxid > zxid {
			return keepEnd, true, nil
		}
		keepEnd = e.Offset + e.Size
	}
}

// TruncateAt cuts one log file at offset, which must be a record boundary
// (the end of the header or of a complete record, e.g. a TornTail's
// Offset): the repair for a torn tail.
func TruncateAt(path string, offset int64) error {
	it, err := NewFileIterator(path, ReadOptions{ContinueOnChecksumError: true})
	if err != nil {
		return err
	}
	defer it.Close()
	// Opening checks the header; no record is read for offset 16.
	if err := it.open(path); err != nil {
		return fmt.Errorf("txnlog: truncate %s at %d: %w", path, offset, err)
	}
	it.files = nil
	boundary := int64(headerSize)
	for boundary < offset {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("txnlog: truncate %s at %d: %w", path, offset, err)
		}
		boundary = e.Offset + e.Size
	}
	if boundary != offset {
		return fmt.Errorf("txnlog: truncate %s at %d: not a record boundary (nearest is %d)", path, offset, boundary)
	}
	return cutFile(path, offset)
}

func cutFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = datasync(f)
	}
	return errors.Join(err, f.Close())
}
