package txnlog

import (
	"errors"
	"io/fs"
	"os"
)

// fileSystem is the narrow set of operations the Writer performs on the
// disk. It exists so tests can inject failures (ENOSPC after N bytes, a
// failing fsync) at exact points; production code always uses osFS.
type fileSystem interface {
	// Create makes a new, empty file; it fails if the file already exists.
	Create(path string) (logFile, error)
	Remove(path string) error
	// SyncDir makes directory entries (a newly created log) durable.
	SyncDir(dir string) error
}

// logFile is an open log file. All writes are positional so the Writer
// alone decides where bytes go, as FileChannel's position does in Java.
type logFile interface {
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	// Sync makes written data durable (fdatasync where available).
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) Create(path string) (logFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(path string) error { return os.Remove(path) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	return errors.Join(serr, cerr)
}

type osFile struct{ f *os.File }

func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Sync() error                              { return datasync(o.f) }
func (o osFile) Close() error                             { return o.f.Close() }

// osErr strips the *fs.PathError wrapper so messages name the file once;
// errors.Is(err, syscall.ENOSPC) keeps working on the result.
func osErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
